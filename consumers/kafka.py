"""Kafka settings shared by the ledger's services: topics, producers and consumer tuning."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:  # kafka is imported by what uses it: the command line reads these names
    from kafka import KafkaProducer

ENV_BOOTSTRAP: Final = "LEDGER_KAFKA_BOOTSTRAP"
INBOUND: Final = "ledger.inbound"
REJECTED: Final = "ledger.rejected"
EVENTS: Final = "ledger.events"
ALERTS: Final = "ledger.alerts"
GROUP: Final = "ledger-ingest"


@dataclass(frozen=True)
class GroupTiming:
    """Consumer-group timeouts. A group on the test broker joins after about half the
    session timeout, so Kafka's defaults make every join slow; these shorter ones join
    quickly and still tolerate a slow batch."""

    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    max_poll_interval_ms: int = 60_000

    def as_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``KafkaConsumer``."""
        return {
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_interval_ms": self.max_poll_interval_ms,
        }


def bootstrap_servers(value: str | None) -> str:
    """The bootstrap servers from the option, else ``$LEDGER_KAFKA_BOOTSTRAP``."""
    servers = value or os.environ.get(ENV_BOOTSTRAP)
    if not servers:
        raise ValueError(f"no Kafka bootstrap servers: pass --bootstrap or set {ENV_BOOTSTRAP}")
    return servers


def producer(bootstrap: str, client_id: str) -> KafkaProducer:
    """An idempotent producer (acks=all, ordered per partition) tuned for throughput.

    ``acks`` is left at its default (all): setting it explicitly turns idempotence off in
    kafka-python 3.
    """
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
    )


Signer = Callable[[bytes], list[tuple[str, bytes]]]
"""A record value's headers (``ledger-producer``, ``ledger-signature``): see ``emit``."""


def send_and_confirm(
    producer: KafkaProducer,
    messages: Iterable[tuple[str, bytes | None, bytes]],
    signer: Signer | None = None,
) -> dict[int, int]:
    """Send (topic, key, value) messages, flush, and raise unless the broker took them all
    (``signer``: the headers each value is sent with).

    Returns the last offset written to each partition.
    """
    futures = [
        producer.send(
            topic, key=key, value=value, headers=None if signer is None else signer(value)
        )
        for topic, key, value in messages
    ]
    producer.flush()
    last: dict[int, int] = {}
    for future in futures:
        if future.failed():
            raise RuntimeError(f"the broker refused a message: {future.exception}")
        metadata = future.value
        last[metadata.partition] = max(last.get(metadata.partition, -1), metadata.offset)
    return last
