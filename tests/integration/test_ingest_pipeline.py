"""Ingest writes a batch on a writer thread while it decides the next one on top of it.

What a user relies on: the pipeline changes no outcome. Another writer that commits
between a batch's decisions and its write makes that write fail; the batch is decided
again from what is stored, so is the batch decided on top of it, and nothing is lost or
stored twice. A write that fails outright stops the ingest with nothing of that batch
stored, and the same inputs can be sent again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.settings import Database
from ledger.aggregates.chain import GENESIS
from ledger.services.intake import Ingestor, Input
from tests.support import Envelopes


def _inputs(envelopes: list[dict[str, Any]]) -> list[Input]:
    return [Input(e, f"test:{i}") for i, e in enumerate(envelopes)]


class _WritesOnCall:
    """Wraps a recorder's ``insert_events``: runs ``before`` ahead of the n-th call."""

    def __init__(self, app: LedgerApp, call: int, before: Any) -> None:
        self.original = app.recorder.insert_events
        self.calls, self.call, self.before = 0, call, before
        app.recorder.insert_events = self  # type: ignore[method-assign]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == self.call:
            self.before()
        return self.original(*args, **kwargs)


def _chain_is_whole(app: LedgerApp, subject: str) -> list[str]:
    """The subject's event types, after checking versions and hash links are unbroken."""
    history = app.history(subject)
    assert [e.originator_version for e in history] == list(range(1, len(history) + 1))
    previous = GENESIS
    for event in history:
        assert event.previous_hash == previous
        assert event.computed_hash() == event.event_hash
        previous = event.event_hash
    return [e.WIRE_TYPE for e in history]


@pytest.fixture
def other_writer(database: Database) -> Iterator[LedgerApp]:
    """A second ledger process on the same database (another consumer, say)."""
    app = open_app(database)
    yield app
    app.close()


def test_a_batch_that_races_another_writer_is_decided_again(
    ledger: LedgerApp, other_writer: LedgerApp
) -> None:
    env = Envelopes()
    first = [env.customer("C-1"), env.ticket("T-1")]
    theirs = env.make("ticket.assigned", "T-1", {"assignee": "se-bo"})
    second = [
        env.make("ticket.responded", "T-1", {"public": True, "message": "on it"}),
        env.make("ticket.update_posted", "T-1", {"message": "still on it"}),
    ]
    # Decided while the second batch is written, on top of it: void once that write fails.
    third = [env.make("ticket.status_changed", "T-1", {"status": "waiting_on_customer"})]

    def commit_theirs() -> None:  # after our decisions on the second batch, before its write
        outcomes = Ingestor(other_writer).ingest_batch([Input(theirs, "other")])
        assert [o.status for o in outcomes] == ["accepted"]

    wrapper = _WritesOnCall(ledger, 2, commit_theirs)
    seen: list[list[str]] = []
    report = Ingestor(ledger).ingest(
        _inputs(first + second + third),
        batch_size=2,
        on_batch=lambda outcomes: seen.append([o.status for o in outcomes]),
    )

    assert wrapper.calls == 4  # the raced write, the same batch again, then the third
    assert (report.accepted, report.duplicates, report.rejected) == (5, 0, 0)
    assert seen == [["accepted", "accepted"], ["accepted", "accepted"], ["accepted"]]
    assert _chain_is_whole(ledger, "T-1") == [
        "ticket.opened",
        "ticket.assigned",
        "ticket.responded",
        "ticket.update_posted",
        "ticket.status_changed",
    ]
    assert ledger.store.event_count() == 6


def test_an_event_id_in_the_batch_being_written_is_a_duplicate_in_the_next(
    ledger: LedgerApp,
) -> None:
    """The next batch is decided before the one ahead has committed: a repeated event id
    is still acknowledged as a duplicate (R-IN-4), and stored once."""
    env = Envelopes()
    opened = env.ticket("T-1")
    assigned = env.make("ticket.assigned", "T-1", {"assignee": "se-ana"})
    statuses: list[str] = []
    report = Ingestor(ledger).ingest(
        _inputs([env.customer("C-1"), opened, opened, assigned, assigned, opened]),
        batch_size=1,
        on_batch=lambda outcomes: statuses.extend(o.status for o in outcomes),
    )
    assert statuses == ["accepted", "accepted", "duplicate", "accepted", "duplicate", "duplicate"]
    assert (report.accepted, report.duplicates) == (3, 3)
    assert _chain_is_whole(ledger, "T-1") == ["ticket.opened", "ticket.assigned"]


def test_a_failed_write_stores_nothing_of_its_batch_and_can_be_sent_again(
    ledger: LedgerApp,
) -> None:
    env = Envelopes()
    envelopes = [
        env.customer("C-1"),
        env.ticket("T-1"),
        env.make("ticket.assigned", "T-1", {"assignee": "se-ana"}),
        env.make("ticket.responded", "T-1", {"public": True, "message": "on it"}),
        env.make("ticket.update_posted", "T-1", {"message": "still on it"}),
    ]

    def disk_full() -> None:
        raise OSError("disk full")

    ingestor = Ingestor(ledger)
    wrapper = _WritesOnCall(ledger, 2, disk_full)
    with pytest.raises(OSError, match="disk full"):
        ingestor.ingest(_inputs(envelopes), batch_size=2)
    assert _chain_is_whole(ledger, "T-1") == ["ticket.opened"]  # the first batch only

    ledger.recorder.insert_events = wrapper.original  # type: ignore[method-assign]
    report = ingestor.ingest(_inputs(envelopes), batch_size=2)
    assert (report.accepted, report.duplicates) == (3, 2)
    assert _chain_is_whole(ledger, "T-1") == [
        "ticket.opened",
        "ticket.assigned",
        "ticket.responded",
        "ticket.update_posted",
    ]


def test_a_reader_that_stops_keeps_the_batches_written_before(
    ledger: LedgerApp,
) -> None:
    env = Envelopes()
    head = [env.customer("C-1"), env.ticket("T-1")]
    tail = [env.make("ticket.assigned", "T-1", {"assignee": "se-ana"})]

    def interrupted() -> Iterator[Input]:
        yield from _inputs(head)
        raise KeyboardInterrupt  # the reader stops after the first batch

    ingestor = Ingestor(ledger)
    with pytest.raises(KeyboardInterrupt):
        ingestor.ingest(interrupted(), batch_size=2)
    assert ledger.store.event_count() == 2

    report = ingestor.ingest(_inputs(head + tail), batch_size=2)
    assert (report.accepted, report.duplicates) == (1, 2)
    assert _chain_is_whole(ledger, "T-1") == ["ticket.opened", "ticket.assigned"]
