"""Garbage collection for long runs of batches: ingest, the Kafka consumer, projection.

Such a run holds many long-lived objects (cached aggregates, folds, histories). With
automatic collection, CPython walks all of them again at every full collection, which
it starts each time a quarter as many objects again have survived: a cost that grows
with the heap (the README's Performance section has the measured share).

So, while a run lasts, automatic collection is off. The young generations, where a
batch's cycles are, are collected after each batch; every generation every
``full_every`` batches (if given), so that a run that never ends, a consumer, still
frees old cycles; after the run, automatic collection again. Collection is
process-wide: another thread's garbage waits for the same collections.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

FULL_EVERY: Final = 100
"""Batches between full collections in a run that may not end (about 100k events)."""


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
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield Batches(full_every)
    finally:
        if enabled:
            gc.enable()  # nested runs leave it to the outermost
