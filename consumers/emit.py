"""``ledger emit``: a JSON Lines file onto ``ledger.inbound``, keyed by subject.

For services' tests and the demo. Each line is sent as it is (invalid lines too, so the
ledger's rejection path can be exercised); the key is the envelope's ``subject`` when
the line is a JSON object that has one, so a subject's events stay in order on one
partition. The producer is idempotent with acks from all replicas.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson
from kafka import KafkaProducer

from consumers.kafka import send_and_confirm


def subject_key(line: bytes) -> bytes | None:
    """The envelope's subject as the message key (None when there is none)."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    subject = document.get("subject") if isinstance(document, dict) else None
    return subject.encode() if isinstance(subject, str) and subject else None


def emit(producer: KafkaProducer, topic: str, lines: Iterable[bytes]) -> int:
    """Send every line, wait for every acknowledgement; how many were sent."""
    return send_and_confirm(producer, ((topic, subject_key(line), line) for line in lines))
