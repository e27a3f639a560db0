"""Producers posting at once to a live server store what one file ingest stores.

Four producers post the demo quarter at the same time, the stream split by subject as
Kafka producers key their records (as the harness's load client splits it), each its part
in order, in requests of 100 lines, each waiting for its answers. The server stores the
requests that arrive during a commit together (``web/group_commit.py``), and batches of
one producer overtake another's, so an input may wait for a subject another producer has
not sent yet (R-IN-6). At the end the ledger holds exactly what ``ledger ingest`` of the
whole file holds: the same events, the same rejections by rule, the same inputs still
waiting. Both backends.
"""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

from benchmarks.http import partitions, stored_state
from demo.quarter import DemoSpec, generate
from ledger.adapters.settings import Database
from tests.e2e.http_support import cli_json, db_url, serving

PRODUCERS = 4
BATCH = 100


def test_producers_posting_at_once_store_what_the_file_ingest_stores(
    database: Database, tmp_path: Path
) -> None:
    lines = [line.raw for line in generate(DemoSpec(seed=5, customers=8))]
    stream = tmp_path / "quarter.jsonl"
    stream.write_bytes(b"".join(line + b"\n" for line in lines))
    reference = str(tmp_path / "reference.db")
    cli_json("ingest", str(stream), db=reference)
    expected = stored_state(reference)
    assert expected["events"] > 1000 and expected["rejections"] and expected["deferred"]

    db = db_url(database)
    statuses: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    tally = threading.Lock()
    with serving(db, "--no-auth", "--no-follow") as server:

        def produce(part: list[bytes]) -> None:
            with server.client() as client:
                for start in range(0, len(part), BATCH):
                    body = b"\n".join(part[start : start + BATCH]) + b"\n"
                    answer = client.post(
                        "/v1/events",
                        content=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                    sent = len(part[start : start + BATCH])
                    with tally:
                        statuses[answer.status_code] += 1
                        if answer.status_code == 200:
                            own = answer.json()["outcomes"]
                            assert [o["index"] for o in own] == list(range(1, sent + 1))
                            outcomes.update(o["status"] for o in own)

        parts = partitions(lines, PRODUCERS)
        producers = [threading.Thread(target=produce, args=(p,)) for p in parts]
        for producer in producers:
            producer.start()
        for producer in producers:
            producer.join(timeout=300)
    assert set(statuses) == {200}, statuses
    assert sum(outcomes.values()) == len(lines)  # every input answered, once
    assert stored_state(db) == expected
