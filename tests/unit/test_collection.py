"""Garbage-collection control (``ledger.adapters.collection``): runs that overlap turn
automatic collection on again only when the last one ends, and a server's batches keep
it off from the first until they stop (``WhileBusy``); the server's runtime leaves it on
when it shuts down."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.adapters import collection
from ledger.adapters.collection import WhileBusy, collected_per_batch
from ledger.adapters.settings import resolve_database
from web.runtime import Runtime

HOUR = 3600.0


@pytest.fixture(autouse=True)
def automatic() -> Iterator[None]:
    """Each test starts with automatic collection on and leaves it as it found it."""
    was = gc.isenabled()
    gc.enable()
    yield
    assert collection._pauses == 0  # every pause had its resume
    if not was:
        gc.disable()


def test_overlapping_runs_turn_it_on_when_the_last_ends() -> None:
    first = collected_per_batch()
    second = collected_per_batch()
    first.__enter__()
    second.__enter__()  # (a runner's catch-up during a server's batches)
    assert not gc.isenabled()
    first.__exit__(None, None, None)  # the first ends before the second
    assert not gc.isenabled()
    second.__exit__(None, None, None)
    assert gc.isenabled()


def test_a_run_leaves_it_off_when_it_was_off() -> None:
    gc.disable()
    with collected_per_batch():
        assert not gc.isenabled()
    assert not gc.isenabled()


def test_batches_keep_it_off_until_they_stop() -> None:
    busy = WhileBusy(quiet_seconds=HOUR)
    assert busy.quiet_in() is None
    busy.started()
    assert not gc.isenabled() and busy.paused
    assert not busy.resume_if_quiet(busy=True)  # a batch under way
    busy.done(1000)
    busy.started()  # the next batch: still the same run
    busy.done(1000)
    assert not busy.resume_if_quiet(busy=False)  # not quiet for an hour yet
    quiet_in = busy.quiet_in()
    assert quiet_in is not None and HOUR - 60 < quiet_in <= HOUR
    assert not gc.isenabled()
    busy.end()
    assert gc.isenabled() and not busy.paused
    busy.end()  # ending twice changes nothing
    assert gc.isenabled()


def test_quiet_batches_end_the_run() -> None:
    busy = WhileBusy(quiet_seconds=0.0)
    busy.started()
    busy.done(1000)
    assert busy.quiet_in() == 0.0
    assert not busy.resume_if_quiet(busy=True)  # another batch is waiting
    assert not gc.isenabled()
    assert busy.resume_if_quiet(busy=False)
    assert gc.isenabled()
    assert not busy.resume_if_quiet(busy=False)  # nothing under way


def test_each_batch_collects_its_cycles() -> None:
    class Node:
        other: object = None

    busy = WhileBusy(quiet_seconds=HOUR)
    busy.started()
    cycle = Node()
    cycle.other = cycle
    alive = weakref.ref(cycle)
    del cycle
    for _ in range(10_000):  # more than automatic collection would let pass
        Node().other = Node()
    assert alive() is not None  # automatic collection is off
    busy.done(1000)
    assert alive() is None
    busy.end()


def test_the_whole_heap_once_enough_inputs_went_through() -> None:
    class Node:
        other: object = None

    busy = WhileBusy(quiet_seconds=HOUR, full_every_inputs=1500)
    busy.started()
    cycle = Node()
    cycle.other = cycle
    alive = weakref.ref(cycle)
    busy.done(500)  # still referenced: it survives into the old generation
    del cycle
    busy.done(500)  # the young generations only
    assert alive() is not None
    busy.done(500)  # 1500 inputs: every generation
    assert alive() is None
    busy.end()


def test_the_server_collects_as_ingest_does_and_leaves_it_on(tmp_path: Path) -> None:
    runtime = Runtime(resolve_database(str(tmp_path / "ledger.db")), follow=False)
    runtime.start()
    try:
        with runtime.writing(1):
            assert not gc.isenabled()
    finally:
        runtime.close()
    assert gc.isenabled()
