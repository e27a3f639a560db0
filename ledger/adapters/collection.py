"""Garbage collection for long runs of batches: ingest, the Kafka consumer, projection.

Such a run holds many long-lived objects (cached aggregates, folds, histories). With
automatic collection, CPython walks all of them again at every full collection, which
it starts each time a quarter as many objects again have survived: a cost that grows
with the heap (the README's Performance section has the measured share).

So, while a run lasts, automatic collection is off. The young generations, where a
batch's cycles are, are collected after each batch; every generation every
``full_every`` batches (if given), so that a run that never ends, a consumer, still
frees old cycles; after the run, automatic collection again. Collection is
process-wide: another thread's garbage waits for the same collections, and runs that
overlap (a server's batches and its projection runner) count: automatic collection is
on again once the last of them ends (``pause`` / ``resume``).

A server's runs are its requests' batches, which come one at a time, with gaps between
them and of any size: ``WhileBusy`` keeps automatic collection off from the first batch
until none has come for a while (``resume_if_quiet``), collects the young generations
after each batch, and every generation once ``FULL_EVERY_INPUTS`` inputs have gone
through (as many as a run's ``FULL_EVERY`` batches of the default size: counted in
batches, a producer posting one event at a time would have the whole heap walked every
100 events).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from ledger.adapters.settings import DEFAULT_BATCH_SIZE

FULL_EVERY: Final = 100
"""Batches between full collections in a run that may not end (500k inputs in batches of
the default size)."""
FULL_EVERY_INPUTS: Final = FULL_EVERY * DEFAULT_BATCH_SIZE
"""Inputs between full collections while a server's batches keep coming."""

_lock = threading.Lock()
_pauses = 0  # runs under way that turned automatic collection off
_enabled_before = False  # whether it was on when the first of them began


def pause() -> None:
    """Automatic collection off until every ``pause`` has its ``resume``."""
    global _pauses, _enabled_before
    with _lock:
        if _pauses == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _pauses += 1


def resume() -> None:
    """The end of a ``pause``: the last one turns automatic collection on again, if it
    was on before the first."""
    global _pauses
    with _lock:
        _pauses -= 1
        if _pauses == 0 and _enabled_before:
            gc.enable()


class Batches:
    """Counts a run's batches and collects after each."""

    def __init__(self, full_every: int | None) -> None:
        self.full_every = full_every
        self.count = 0

    def done(self) -> None:
        """A batch is done: collect the young generations, or all of them now and then."""
        self.count += 1
        full = self.full_every is not None and self.count % self.full_every == 0
        gc.collect(2 if full else 1)


@contextmanager
def collected_per_batch(full_every: int | None = FULL_EVERY) -> Iterator[Batches]:
    """Automatic collection off for the run; call ``done()`` after each batch."""
    pause()
    try:
        yield Batches(full_every)
    finally:
        resume()  # nested or overlapping runs leave it to the last one


class WhileBusy:
    """A server's batches as one run while they keep coming: automatic collection off
    from the first batch; after each, the young generations collected (every generation
    once ``full_every_inputs`` inputs have gone through); on again once no batch has
    ended for ``quiet_seconds`` (``resume_if_quiet``, called by whoever waits for that).
    Batches may end in any thread; ``done`` is called for each."""

    def __init__(self, quiet_seconds: float, full_every_inputs: int = FULL_EVERY_INPUTS) -> None:
        self.quiet_seconds = quiet_seconds
        self.full_every_inputs = full_every_inputs
        self._inputs = 0  # since the last full collection
        self._lock = threading.Lock()
        self._paused = False
        self._last = 0.0

    @property
    def paused(self) -> bool:
        """Whether this run holds automatic collection off."""
        return self._paused

    def started(self) -> None:
        """A batch begins: the run begins, if it is not under way."""
        with self._lock:
            if not self._paused:
                pause()
                self._paused = True

    def done(self, inputs: int) -> None:
        """A batch of ``inputs`` ended: collect the young generations, or all of them."""
        with self._lock:
            self._last = time.monotonic()
            self._inputs += inputs
            full = self._inputs >= self.full_every_inputs
            if full:
                self._inputs = 0
            gc.collect(2 if full else 1)

    def quiet_in(self) -> float | None:
        """Seconds until the run may end (0: it may now); None when not under way."""
        with self._lock:
            if not self._paused:
                return None
            return max(self._last + self.quiet_seconds - time.monotonic(), 0.0)

    def resume_if_quiet(self, busy: bool) -> bool:
        """End the run if no batch is under way (``busy``) and none ended for
        ``quiet_seconds``; whether it ended."""
        with self._lock:
            quiet = time.monotonic() >= self._last + self.quiet_seconds
            if not self._paused or busy or not quiet:
                return False
            self._paused = False
            resume()
            return True

    def end(self) -> None:
        """End the run now, if it is under way (the server shuts down)."""
        with self._lock:
            if self._paused:
                self._paused = False
                resume()
