"""A bounded property-based run of schemathesis against ``/openapi.json`` of a live
server (SQLite, no tokens, a small ledger in it): for every operation, requests made
from the schema (valid ones and, for the parameters, invalid ones) get no 5xx.

Bounded: a few examples per operation and mode, no shrinking, no example database, so
the whole run stays well under a minute.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.e2e.http_support import serving
from tests.support import T0, Envelopes

EXAMPLES = 12


@pytest.mark.slow
def test_no_request_the_schema_allows_makes_a_server_error(tmp_path: Path) -> None:
    env = Envelopes()
    seed = [env.customer("C-1", at=T0 - timedelta(days=1)), env.ticket("T-1", at=T0)]
    with serving(str(tmp_path / "ledger.db"), "--no-auth") as server:
        with server.client() as client:
            assert client.post("/v1/events", json=seed).json()["counts"] == {"accepted": 2}
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 13
        called: dict[str, int] = {}
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                @given(case=operation.as_strategy(generation_mode=mode))
                def run(case: schemathesis.Case) -> None:
                    response = case.call(base_url=server.url, timeout=30)
                    case.validate_response(response, checks=[not_a_server_error])
                    called[case.operation.label] = called.get(case.operation.label, 0) + 1

                try:
                    run()
                except Unsatisfiable:
                    # no invalid request exists (an operation that takes no parameters)
                    assert mode is GenerationMode.NEGATIVE, operation.label
        assert len(called) == len(operations), sorted(called)
