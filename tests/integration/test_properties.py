"""Properties of ingest, on both backends (hypothesis)."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.adapters.event_store import open_app
from ledger.adapters.settings import Database
from ledger.services.intake import Ingestor, Input
from tests.support import Envelopes

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ticket_numbers = itertools.count(1)

TIERS = ["support_engineer", "platform_engineer", "security_infra_lead", "leadership"]
CATEGORIES = [
    "platform_down",
    "authentication_failure",
    "data_integrity_risk",
    "major_degradation",
    "partial_outage",
    "feature_issue",
    "how_to",
    "configuration",
]
SEVERITY = {
    c: s
    for s, cs in {
        1: CATEGORIES[:3],
        2: CATEGORIES[3:5],
        3: CATEGORIES[5:6],
        4: CATEGORIES[6:],
    }.items()
    for c in cs
}
reasons = st.sampled_from(["", "customer impact grew", "workaround found"])


def ticket_step(subject: str) -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    """One plausible ticket action: mostly valid, sometimes breaking a rule."""
    category = st.sampled_from(CATEGORIES)
    return st.one_of(
        category.flatmap(
            lambda c: st.tuples(
                st.just("ticket.triaged"),
                st.fixed_dictionaries(
                    {
                        "severity": st.sampled_from([SEVERITY[c], 1, 2, 3, 4]),
                        "category": st.just(c),
                        "reason": reasons,
                    }
                ),
            )
        ),
        st.tuples(
            st.just("ticket.assigned"),
            st.fixed_dictionaries({"assignee": st.sampled_from(["se-ana", "pe-li"])}),
        ),
        st.tuples(
            st.just("ticket.responded"),
            st.fixed_dictionaries({"public": st.booleans(), "message": st.just("hi")}),
        ),
        st.tuples(st.just("ticket.update_posted"), st.just({"message": "still on it"})),
        st.tuples(
            st.just("ticket.status_changed"),
            st.fixed_dictionaries(
                {"status": st.sampled_from(["in_progress", "waiting_on_customer"])}
            ),
        ),
        st.tuples(
            st.just("ticket.escalated"),
            st.fixed_dictionaries({"to_tier": st.sampled_from(TIERS[1:]), "reason": reasons}),
        ),
        st.tuples(
            st.just("ticket.deescalated"),
            st.fixed_dictionaries({"to_tier": st.sampled_from(TIERS[:3]), "reason": reasons}),
        ),
        st.tuples(
            st.just("ticket.temporary_fix_applied"),
            st.just(
                {
                    "description": "restart",
                    "expires_at": "2027-01-01T00:00:00+00:00",
                    "owner": "pe-li",
                }
            ),
        ),
        st.tuples(st.just("ticket.permanent_fix_applied"), st.just({"description": "patch"})),
        st.tuples(
            st.just("ticket.resolved"),
            st.fixed_dictionaries({"resolution": st.sampled_from(["", "fixed"])}),
        ),
        st.tuples(st.just("ticket.reopened"), st.just({"reason": "back again"})),
        st.tuples(st.just("ticket.closed"), st.just({})),
        st.tuples(
            st.just("rca.root_cause_identified"),
            st.just({"root_cause": "disk full", "root_cause_code": "DISK"}),
        ),
        st.tuples(
            st.just("rca.impact_assessed"),
            st.just({"impact": "slow", "customers_affected": 1, "duration_minutes": 5}),
        ),
        st.tuples(
            st.just("rca.preventive_action_added"),
            st.just(
                {
                    "action_id": "PA-1",
                    "description": "alert",
                    "owner": "pe-li",
                    "due_date": "2026-12-01",
                }
            ),
        ),
        st.tuples(st.just("rca.owner_assigned"), st.just({"owner": "pe-li"})),
        st.tuples(st.just("rca.published"), st.just({})),
    )


@pytest.fixture
def seeded(database: Database) -> Any:
    """A ledger with one enterprise customer, and the factory that built it."""
    app = open_app(database)
    env = Envelopes()
    Ingestor(app).ingest_batch([Input(env.customer("C-1"), "setup")])
    yield app, env
    app.close()


@PROPERTY_SETTINGS
@given(data=st.data())
def test_stored_and_reloaded_equals_in_memory(seeded: Any, data: st.DataObject) -> None:
    """(a) Random ticket histories: the aggregate reloaded from the store equals the one
    built in memory from the same accepted events."""
    app, env = seeded
    subject = f"T-{next(_ticket_numbers)}"
    category = data.draw(st.sampled_from(CATEGORIES))
    steps = data.draw(st.lists(ticket_step(subject), max_size=25))
    batch_size = data.draw(st.integers(min_value=1, max_value=8))
    envelopes = [env.ticket(subject, severity=SEVERITY[category], category=category)]
    envelopes += [env.make(kind, subject, body, step=timedelta(minutes=7)) for kind, body in steps]
    ingestor = Ingestor(app)
    outcomes = ingestor.ingest([Input(e, "prop") for e in envelopes], batch_size=batch_size)
    assert outcomes.inputs == len(envelopes)
    in_memory = ingestor.cached(subject)
    reloaded = app.repository.get(subject)
    assert in_memory is not None
    assert reloaded == in_memory
    assert reloaded.version == outcomes.accepted


def garbage() -> st.SearchStrategy[Any]:
    """Bytes, JSON of any shape, and envelopes with a field broken."""
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=8,
    )
    env = Envelopes(seed=7)
    valid = [
        env.customer("C-9"),
        env.ticket("T-900", customer_id="C-9"),
        env.make("ticket.assigned", "T-900", {"assignee": "x"}),
    ]
    keys = [
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "source",
        "actor",
        "subject",
        "data",
    ]

    def broken(envelope: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
        changed = dict(envelope)
        if value is None:
            changed.pop(key, None)
        else:
            changed[key] = value
        return changed

    return st.one_of(
        st.binary(max_size=60),
        st.text(max_size=60),
        json_values,
        st.sampled_from(valid),
        st.builds(broken, st.sampled_from(valid), st.sampled_from(keys), json_values),
    )


@PROPERTY_SETTINGS
@given(inputs=st.lists(garbage(), max_size=20))
def test_garbage_never_crashes_ingest(seeded: Any, inputs: list[Any]) -> None:
    """(b) Every input ends accepted, duplicate, deferred or rejected with a reason; the
    counts add up, and every new rejection is kept."""
    app, _ = seeded
    kept_before = len(app.store.rejections())
    prepared = [
        Input(item if isinstance(item, bytes | str | dict) else json.dumps(item).encode(), f"g:{i}")
        for i, item in enumerate(inputs)
    ]
    outcomes = Ingestor(app).ingest_batch(prepared)
    assert len([o for o in outcomes if not o.released]) == len(inputs)
    rejected = [o for o in outcomes if o.status == "rejected"]
    for outcome in rejected + [o for o in outcomes if o.status == "deferred"]:
        assert outcome.rejection is not None
        assert outcome.rejection.rule and outcome.rejection.reason
    # An input rejected before (the same bytes or content) is acknowledged, not kept twice.
    kept = [o for o in rejected if not o.repeat]
    assert len(app.store.rejections()) - kept_before == len(kept)
    assert {o.status for o in outcomes} <= {"accepted", "duplicate", "deferred", "rejected"}
