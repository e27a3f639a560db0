"""Group commit for ``POST /v1/events``: the batches of the requests that arrive while one
transaction is being stored go together into the next, and the next is decided while the
one before it is written.

A producer that waits for each answer can't overlap its own requests, and a small
transaction costs more per input than a large one (its commit writes and syncs the pages
its keys touched): in process, on SQLite, the 1M stream took 179 s stored in requests of
1000 one after the other and 119 s in the file ingest's pipelined batches of 5000. Many
producers at once then share commits instead of queueing for one each, and their groups
go through the file ingest's ``Pipeline``: while a group's transaction is written and
committed (without the interpreter lock), the next group is decided on top of it. One
producer alone has a transaction per request, its first half written while its second is
decided (``Ingestor.ingest_request``).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field

from ledger.adapters.settings import DEFAULT_BATCH_SIZE
from ledger.services.intake import Ingestor, Input, Outcome, Pipeline


@dataclass
class _Waiting:
    """A request's batch waiting for a transaction, and, once stored, its outcomes."""

    inputs: Sequence[Input]
    done: threading.Event = field(default_factory=threading.Event)
    outcomes: list[Outcome] = field(default_factory=list)
    error: BaseException | None = None


def _unguarded(inputs: int) -> AbstractContextManager[object]:
    return nullcontext()


class GroupCommit:
    """Requests' batches stored together: the batches of the requests that arrive while one
    transaction is being stored go, in their order of arrival, into the next one (up to
    ``max_inputs``, the file ingest's batch; a larger batch goes alone). Each request is
    answered once its transaction has committed, with its own inputs' outcomes; if the
    transaction fails, every request of the group is answered with the failure and
    nothing of it is stored. Order between concurrent requests is the order they reach
    the queue; an input whose subject is in a request not stored yet is deferred (R-IN-6).

    While a group is in flight (written on the pipeline's writer thread), the requests
    that arrived meanwhile are decided on top of it as the next group, as the file ingest
    decides a batch on top of the one in flight. A request that finds nothing in flight
    and nothing else waiting, after a group that was one request alone too (one producer
    posting), goes through ``Ingestor.ingest_request`` instead: its own halves overlap.

    ``writing(inputs)`` guards each step that decides or waits for a commit (the
    runtime's write turn and its garbage-collection bookkeeping).
    """

    def __init__(
        self,
        ingestor: Ingestor,
        writing: Callable[[int], AbstractContextManager[object]] = _unguarded,
        max_inputs: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self._ingestor = ingestor
        self._writing = writing
        self._max_inputs = max_inputs
        self._queue: deque[_Waiting] = deque()
        self._queued = threading.Condition()
        self._leading = threading.Lock()  # one thread moves the groups at a time
        self._pipeline: Pipeline | None = None
        self._unanswered: list[list[_Waiting]] = []  # groups pushed, not committed yet
        self._together = False  # whether the last group showed producers at once

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
                    self._step()
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

    def close(self) -> None:
        """Wait for the group in flight, if any, and end the pipeline."""
        with self._leading:
            if self._unanswered:
                self._settle_in_flight()
            if self._pipeline is not None:
                self._pipeline.__exit__(None, None, None)
                self._pipeline = None

    def _step(self) -> None:
        """Move the groups on by one step: decide the requests waiting (on top of the
        group in flight, if any), or, with none waiting, wait for the group in flight to
        commit or for a request to arrive, whichever comes first."""
        group, more = self._take()
        if not group:  # the caller's request is in flight
            if not self._arrival_before_commit():
                self._settle_in_flight()
            return
        inputs = [item for waiting in group for item in waiting.inputs]
        together = len(group) > 1 or more or bool(self._unanswered)
        alone = not together and not self._together
        self._together = together
        try:
            if alone:  # one producer: a request's halves overlap instead
                with self._writing(len(inputs)):
                    outcomes = self._ingestor.ingest_request(inputs)
                _answer(group, outcomes)
                return
            self._unanswered.append(group)
            with self._writing(len(inputs)):
                pipeline = self._pipe()
                pipeline.push(inputs, tag=group)
            write = pipeline.in_flight
            if write is not None:
                write.add_done_callback(self._wake)
        except BaseException as error:
            self._fail(error, group)

    def _wake(self, _: object) -> None:
        with self._queued:
            self._queued.notify_all()

    def _arrival_before_commit(self) -> bool:
        """Wait until a request arrives or the write in flight ends: whether one arrived."""
        write = None if self._pipeline is None else self._pipeline.in_flight
        with self._queued:
            self._queued.wait_for(lambda: self._queue or write is None or write.done())
            return bool(self._queue)

    def _pipe(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = self._ingestor.pipeline(self._committed)
        return self._pipeline

    def _committed(self, tag: object, outcomes: list[Outcome]) -> None:
        """The pipeline committed a group: answer its requests."""
        group = next(g for g in self._unanswered if g is tag)
        self._unanswered.remove(group)
        _answer(group, outcomes)

    def _settle_in_flight(self) -> None:
        """Wait for the group in flight to commit (answered by ``_committed``)."""
        try:
            with self._writing(0):
                if self._pipeline is None or self._pipeline.in_flight is None:
                    raise RuntimeError("a group was neither answered nor in flight")
                self._pipeline.flush()
        except BaseException as error:
            self._fail(error, None)

    def _fail(self, error: BaseException, group: list[_Waiting] | None) -> None:
        """A step failed: the group in flight, if it still commits, is answered with its
        outcomes; every other group not answered gets the failure. The pipeline starts
        afresh (what it decided is forgotten)."""
        pipeline, self._pipeline = self._pipeline, None
        if pipeline is not None:
            try:
                if pipeline.in_flight is not None:
                    pipeline.flush()
            except BaseException:  # its groups get the failure below
                pass
            finally:
                pipeline.__exit__(None, None, None)
        failed, self._unanswered = self._unanswered, []
        if group is not None and all(g is not group for g in failed):
            failed.append(group)
        for each in failed:
            for waiting in each:
                if not waiting.done.is_set():
                    waiting.error = error
                    waiting.done.set()

    def _take(self) -> tuple[list[_Waiting], bool]:
        """The requests waiting, oldest first, up to ``max_inputs`` (at least one), and
        whether more are left waiting."""
        group: list[_Waiting] = []
        size = 0
        with self._queued:
            while self._queue:
                if group and size + len(self._queue[0].inputs) > self._max_inputs:
                    break
                waiting = self._queue.popleft()
                group.append(waiting)
                size += len(waiting.inputs)
            return group, bool(self._queue)


def _answer(group: list[_Waiting], decided: list[Outcome]) -> None:
    """Each request of a committed group gets its own inputs' outcomes (inputs deferred
    earlier and decided in its batch are not among the requests')."""
    own = iter([o for o in decided if not o.released])
    for waiting in group:
        waiting.outcomes = [next(own) for _ in waiting.inputs]
        waiting.done.set()
    assert next(own, None) is None, "an outcome for no input"
