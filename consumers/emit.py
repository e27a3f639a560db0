"""``ledger emit``: a JSON Lines file onto ``ledger.inbound``, keyed by subject.

For services' tests and the demo. Each line is sent as it is (invalid lines too, so the
ledger's rejection path can be exercised); the key is the envelope's ``subject`` when
the line is a JSON object that has one, so a subject's events stay in order on one
partition. The producer is idempotent with acks from all replicas.

With a producer's name and token (``signed_by``), every record carries the headers
``ledger-producer`` (the name) and ``ledger-signature`` (hex HMAC-SHA256 of the record's
value under the key derived from the token), which ``ledger consume --require-signed``
checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import orjson
from kafka import KafkaProducer

from consumers.kafka import Signer, send_and_confirm
from ledger.services.principals import PRODUCER_HEADER, SIGNATURE_HEADER, sign, signing_key


def signed_by(producer: str, token: str) -> Signer:
    """Headers that attribute each record to ``producer`` and sign its value."""
    key = signing_key(token)
    name = producer.encode()

    def headers(value: bytes) -> list[tuple[str, bytes]]:
        return [(PRODUCER_HEADER, name), (SIGNATURE_HEADER, sign(key, value).encode())]

    return headers


def subject_key(line: bytes) -> bytes | None:
    """The envelope's subject as the message key (None when there is none)."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    subject = document.get("subject") if isinstance(document, dict) else None
    return subject.encode() if isinstance(subject, str) and subject else None


def emit(
    producer: KafkaProducer, topic: str, lines: Iterable[bytes], signer: Signer | None = None
) -> int:
    """Send every line, wait for every acknowledgement; how many were sent."""
    sent = list(lines)
    send_and_confirm(producer, ((topic, subject_key(line), line) for line in sent), signer)
    return len(sent)


DEPENDED_ON = ("customer.onboarded", "sla_policy.")


def depended_on(line: bytes) -> bool:
    """Whether other subjects' events depend on this one (onboardings, the SLA policy)."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    kind = document.get("type") if isinstance(document, dict) else None
    return isinstance(kind, str) and kind.startswith(DEPENDED_ON)


def emit_dependencies_first(
    producer: KafkaProducer,
    topic: str,
    lines: Iterable[bytes],
    wait_until_consumed: Callable[[dict[int, int]], None],
    signer: Signer | None = None,
) -> int:
    """Onboardings and policy events first; once the ledger has consumed them, the rest.

    Kafka orders messages per partition only: a ``ticket.opened`` could overtake its
    customer's onboarding on another partition and be rejected (R-IN-2).
    """
    first: list[bytes] = []
    rest: list[bytes] = []
    for line in lines:
        (first if depended_on(line) else rest).append(line)
    offsets = send_and_confirm(producer, ((topic, subject_key(x), x) for x in first), signer)
    wait_until_consumed(offsets)
    send_and_confirm(producer, ((topic, subject_key(x), x) for x in rest), signer)
    return len(first) + len(rest)
