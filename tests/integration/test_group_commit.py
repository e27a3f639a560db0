"""Requests that arrive while a transaction is being stored share the next one
(``web.group_commit.GroupCommit``, what ``POST /v1/events`` runs).

What producers posting at once rely on: each is answered with its own inputs' outcomes,
in its order, exactly as if its batch had followed the ones before it alone; each input
is stored once; a transaction that fails answers every request of its group with the
failure and stores nothing of it, and a retry then stores it once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ledger.adapters.event_store import LedgerApp, open_app
from ledger.adapters.settings import resolve_database
from ledger.services.intake import Ingestor, Input, Outcome
from tests.conftest import FixedClock
from tests.support import Envelopes
from web.group_commit import GroupCommit

WAIT = 60.0


def _answer(outcomes: Sequence[Outcome]) -> list[tuple[Any, ...]]:
    return [
        (o.status, o.event_id, o.subject, o.rejection.rule if o.rejection else None)
        for o in outcomes
    ]


class Held:
    """The runtime's write turn (``writing``), held at its first use until released: the
    requests that arrive meanwhile queue, as they do behind a slow commit. It records the
    size of each group decided, and makes group ``fail_group`` fail before it is stored."""

    def __init__(self, fail_group: int | None = None) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.groups: list[int] = []
        self.fail_group = fail_group

    @contextmanager
    def __call__(self, inputs: int) -> Iterator[None]:
        if inputs:  # a group decided (0: a wait for the one in flight)
            self.groups.append(inputs)
            if len(self.groups) == 1:
                self.entered.set()
                assert self.release.wait(WAIT)
            if len(self.groups) == self.fail_group:
                raise ConnectionError("the database went away mid-commit")
        yield


def _requests() -> list[list[Input]]:
    """Three requests: a customer and its tickets, then two producers' batches, the
    second with a duplicate of the first's ticket, one for an unknown customer (deferred,
    R-IN-6) and one with no actor (rejected)."""
    env = Envelopes()
    first = [env.customer("C-1"), env.ticket("T-1", customer_id="C-1")]
    second = [env.ticket(f"T-2{n}", customer_id="C-1") for n in range(5)]
    third = [
        dict(first[1]),
        env.ticket("T-31", customer_id="C-9"),
        {**env.ticket("T-32", customer_id="C-1"), "actor": None},
        env.ticket("T-33", customer_id="C-1"),
    ]
    return [
        [Input(e, f"http:{n}") for n, e in enumerate(batch, 1)] for batch in (first, second, third)
    ]


def _post_at_once(group: GroupCommit, held: Held, requests: list[list[Input]]) -> list[Any]:
    """The first request enters its transaction and is held there; the others arrive
    meanwhile; then the first is let go. Each request's answer (or the error raised)."""
    answers: list[Any] = [None] * len(requests)

    def post(n: int) -> None:
        try:
            answers[n] = group.ingest(requests[n])
        except Exception as error:  # the request's answer
            answers[n] = error

    threads = [threading.Thread(target=post, args=(n,)) for n in range(len(requests))]
    threads[0].start()
    assert held.entered.wait(WAIT)
    for n, thread in enumerate(threads[1:], 1):
        thread.start()
        assert group.wait_queued(n, WAIT)  # arrived, in this order, behind the first
    held.release.set()
    for thread in threads:
        thread.join(WAIT)
    return answers


def _alone(requests: list[list[Input]], tmp_path: Path) -> tuple[list[list[Outcome]], int]:
    """Each batch stored alone, one after the other, on a ledger of its own: each one's
    outcomes, and the events that ledger holds."""
    alone = open_app(resolve_database(str(tmp_path / "alone.db")))
    try:
        ingestor = Ingestor(alone, clock=FixedClock())
        return [ingestor.ingest_batch(batch) for batch in requests], alone.store.event_count()
    finally:
        alone.close()


def test_requests_arriving_during_a_commit_share_the_next_and_answer_as_alone(
    ledger: LedgerApp, tmp_path: Path
) -> None:
    requests = _requests()
    held = Held()
    group = GroupCommit(Ingestor(ledger, clock=FixedClock()), held)
    answers = _post_at_once(group, held, requests)
    assert held.groups == [2, 9]  # the two that waited went together
    # The same batches one after the other, each alone, on a ledger of their own:
    expected, events = _alone(requests, tmp_path)
    assert events == ledger.store.event_count() == 8
    assert [_answer(a) for a in answers] == [_answer(e) for e in expected]
    statuses = [[o.status for o in a] for a in answers]
    assert statuses[2] == ["duplicate", "deferred", "rejected", "accepted"]


def test_a_failed_group_answers_each_request_with_the_failure_and_a_retry_stores_once(
    ledger: LedgerApp,
) -> None:
    requests = _requests()
    held = Held(fail_group=2)
    group = GroupCommit(Ingestor(ledger, clock=FixedClock()), held)
    answers = _post_at_once(group, held, requests)
    assert held.groups == [2, 9]
    assert [o.status for o in answers[0]] == ["accepted", "accepted"]
    assert all(isinstance(a, ConnectionError) for a in answers[1:])
    assert ledger.store.event_count() == 2  # nothing of the failed group
    retried = [group.ingest(batch) for batch in requests[1:]]
    assert [o.status for o in retried[0]] == ["accepted"] * 5
    assert ledger.store.event_count() == 8


def _sized_requests() -> list[list[Input]]:
    """A customer, then four producers' batches of its tickets (4, 2, 7 and 1 inputs)."""
    env = Envelopes()
    return [[Input(env.customer("C-1"), "http:1")]] + [
        [Input(env.ticket(f"T-{r}{n}", customer_id="C-1"), f"http:{n}") for n in range(size)]
        for r, size in enumerate((4, 2, 7, 1))
    ]


@pytest.mark.parametrize("limit", [6])
def test_a_group_holds_at_most_its_limit_of_inputs_and_a_larger_request_goes_alone(
    ledger: LedgerApp, limit: int, tmp_path: Path
) -> None:
    requests = _sized_requests()
    held = Held()
    group = GroupCommit(Ingestor(ledger, clock=FixedClock()), held, max_inputs=limit)
    answers = _post_at_once(group, held, requests)
    assert held.groups == [1, 6, 7, 1]  # in order of arrival, never split
    # The groups after the first were each decided while the one before was written:
    # answered all the same as alone.
    assert [_answer(a) for a in answers] == [_answer(e) for e in _alone(requests, tmp_path)[0]]
    assert ledger.store.event_count() == 15


def test_a_group_failing_while_the_one_before_is_written_fails_alone(
    ledger: LedgerApp,
) -> None:
    requests = _sized_requests()
    held = Held(fail_group=3)  # the request of 7, decided while the group of 6 is written
    group = GroupCommit(Ingestor(ledger, clock=FixedClock()), held, max_inputs=6)
    answers = _post_at_once(group, held, requests)
    assert held.groups == [1, 6, 7, 1]
    assert isinstance(answers[3], ConnectionError)
    for n in (0, 1, 2, 4):  # the group in flight committed, and the one after went on
        assert {o.status for o in answers[n]} == {"accepted"}
    assert ledger.store.event_count() == 1 + 6 + 1
    assert {o.status for o in group.ingest(requests[3])} == {"accepted"}
    assert ledger.store.event_count() == 15
