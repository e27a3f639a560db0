"""The registry of command handlers: one per producer type, each typed by its own model."""

from __future__ import annotations

import inspect
from typing import get_type_hints

import pytest

from ledger.aggregates.base import EventMeta
from ledger.aggregates.ticket import Ticket
from ledger.services.handlers import HANDLERS, Context, handles
from schemas import ENVELOPE_MODELS, PRODUCER_TYPES, SYSTEM_TYPES, TicketAssigned


def test_every_producer_type_has_exactly_one_handler() -> None:
    assert set(HANDLERS) == set(PRODUCER_TYPES)
    assert not set(HANDLERS) & SYSTEM_TYPES
    assert len(set(map(id, HANDLERS.values()))) == len(HANDLERS)


@pytest.mark.parametrize("event_type", sorted(PRODUCER_TYPES))
def test_each_handler_takes_the_envelope_model_of_its_type(event_type: str) -> None:
    handler = HANDLERS[event_type]
    envelope = list(inspect.signature(handler).parameters)[1]
    assert get_type_hints(handler)[envelope] is ENVELOPE_MODELS[event_type]


def test_a_type_cannot_get_a_second_handler() -> None:
    with pytest.raises(RuntimeError, match=r"ticket\.assigned has two handlers"):

        @handles(TicketAssigned)
        def assign_again(ctx: Context, envelope: TicketAssigned, meta: EventMeta) -> Ticket:
            raise AssertionError("never called")

    assert HANDLERS["ticket.assigned"].__name__ == "assign_ticket"
