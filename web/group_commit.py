"""Group commit for ``POST /v1/events``: the batches of the requests that arrive while one
transaction is being stored go together into the next.

A producer that waits for each answer can't overlap its own requests, and a small
transaction costs more per input than a large one (its commit writes and syncs the pages
its keys touched): in process, on SQLite, the 100k demo stream took 22 s stored in
batches of 1000 one after the other and 14 s in the file ingest's pipelined batches of
5000. Many producers at once then share commits instead of queueing for one each; one
producer alone has a transaction per request.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ledger.adapters.settings import DEFAULT_BATCH_SIZE
from ledger.services.intake import Input, Outcome


@dataclass
class _Waiting:
    """A request's batch waiting for a transaction, and, once stored, its outcomes."""

    inputs: Sequence[Input]
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    """Requests' batches stored together: the batches of the requests that arrive while one
    transaction is being stored go, in their order of arrival, into the next one (up to
    ``max_inputs``, the file ingest's batch; a larger batch goes alone). Each request is
    answered once its transaction has committed, with its own inputs' outcomes; if the
    transaction fails, every request of the group is answered with the failure and
    nothing of it is stored. Order between concurrent requests is the order they reach
    the queue; an input whose subject is in a request not stored yet is deferred (R-IN-6).
    """

    def __init__(
        self,
        store: Callable[[Sequence[Input]], list[Outcome]],
        max_inputs: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._store_batch = store  # one batch in one transaction: its outcomes, released too
        self._max_inputs = max_inputs
        self._queue: deque[_Waiting] = deque()
        self._queued = threading.Condition()
        self._leading = threading.Lock()  # one group at a time

    def ingest(self, inputs: Sequence[Input]) -> list[Outcome]:
        """Store ``inputs`` (in this thread or in the one storing a group that took them);
        their outcomes, in order."""
        me = _Waiting(inputs)
        with self._queued:
            self._queue.append(me)
            self._queued.notify_all()
        while not me.done.is_set():
            with self._leading:
                if not me.done.is_set():
                    self._store(self._take())
        if me.error is not None:
            raise me.error
        return me.outcomes

    @property
    def queued(self) -> int:
        """Requests waiting for a transaction (not the ones being stored)."""
        with self._queued:
            return len(self._queue)

    def wait_queued(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests are waiting; whether they were within ``timeout``."""
        with self._queued:
            return self._queued.wait_for(lambda: len(self._queue) >= count, timeout)

    def _take(self) -> list[_Waiting]:
        """The requests waiting, oldest first, up to ``max_inputs`` (at least one)."""
        group: list[_Waiting] = []
        size = 0
        with self._queued:
            while self._queue:
                if group and size + len(self._queue[0].inputs) > self._max_inputs:
                    break
                waiting = self._queue.popleft()
                group.append(waiting)
                size += len(waiting.inputs)
        return group

    def _store(self, group: list[_Waiting]) -> None:
        inputs = [item for waiting in group for item in waiting.inputs]
        try:
            decided = self._store_batch(inputs)
            # Inputs deferred earlier and decided in this batch are not among the requests'.
            own = iter([o for o in decided if not o.released])
            for waiting in group:
                waiting.outcomes = [next(own) for _ in waiting.inputs]
            assert next(own, None) is None, "an outcome for no input"
        except BaseException as error:  # each request answers with it, in its own thread
            for waiting in group:
                waiting.error = error
        finally:
            for waiting in group:
                waiting.done.set()
