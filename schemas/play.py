"""Success plays (R-PLAY): what customer success does about a churn risk.

The ledger opens a play when it raises a churn risk (``play.opened``, ledger-written, in
``schemas.system``); producers log the outreach it leads to and close it, naming it by
the ``play_id`` the ledger gave it (the alert carries it). Subject: the customer.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from schemas.envelope import CustomerEnvelope, Data
from schemas.fields import PlayId, Text

TYPE = "The event type"
PAYLOAD = "The payload"

CHANNELS: Final = ("email", "call", "meeting", "message")
"""How customer success reached out."""
OUTCOMES: Final = ("retained", "expanded", "churned", "no_action")
"""How a play ended: the customer stays, grows, leaves, or nothing needed doing."""


class PlayOutreachLoggedData(Data):
    """Customer success reached out to the customer about an open play (R-PLAY-2, R-PLAY-3)."""

    play_id: PlayId = Field(description="The open play, as the ledger named it (P-...)")
    channel: Literal["email", "call", "meeting", "message"] = Field(
        description="How: email, call, meeting or message"
    )
    note: Text = Field(description="What was said or agreed (R-PLAY-3: not blank)")


class PlayClosedData(Data):
    """The play is over, with its outcome (R-PLAY-2, R-PLAY-3)."""

    play_id: PlayId = Field(description="The open play, as the ledger named it (P-...)")
    outcome: Literal["retained", "expanded", "churned", "no_action"] = Field(
        description="retained, expanded, churned or no_action"
    )
    note: Text = Field(description="Why it ends so (R-PLAY-3: not blank)")


class PlayOutreachLogged(CustomerEnvelope):
    """play.outreach_logged"""

    type: Literal["play.outreach_logged"] = Field(description=TYPE)
    data: PlayOutreachLoggedData = Field(description=PAYLOAD)


class PlayClosed(CustomerEnvelope):
    """play.closed"""

    type: Literal["play.closed"] = Field(description=TYPE)
    data: PlayClosedData = Field(description=PAYLOAD)
