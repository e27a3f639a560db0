"""``POST /v1/events``: the body read (size-limited) and split into inputs, each kept as
the bytes sent (so the intake judges exactly them: a key named twice is R-WIRE-2, a line
that is not JSON is R-WIRE-1 and kept), then one batch through the ingestor, in one
transaction, as ``ledger ingest`` stores a batch.

A JSON array (``application/json``) or NDJSON (``application/x-ndjson``,
``application/jsonl``: one envelope a line, blank lines skipped). A body that is neither
is refused whole (400, R-WIRE-1) and nothing is stored or kept.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from fastapi import Request

from ledger.services.intake import Input, Outcome
from ledger.services.principals import Principal
from web.problems import Problem

if TYPE_CHECKING:
    from web.runtime import Runtime

NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
JSON_TYPES: Final = frozenset({"application/json", ""})
_WHITESPACE: Final = " \t\n\r"
_DECODER: Final = json.JSONDecoder()


async def read_body(request: Request, limit: int) -> bytes:
    """The body, or 413 once it is larger than ``limit`` bytes (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "body-too-large",
        f"the body is larger than {limit} bytes: send the envelopes in smaller requests",
        field="body",
    )


def _bad_body(detail: str) -> Problem:
    return Problem(400, "bad-body", f"{detail}: nothing was stored", field="body", rule="R-WIRE-1")


def inputs_of(body: bytes, content_type: str, who: Principal) -> list[Input]:
    """The inputs of a body, in order, each with its origin (``http:N``) and, for a
    producer, the producer (the intake checks its scope)."""
    media = content_type.split(";")[0].strip().lower()
    if media in NDJSON_TYPES:
        parts = [line.rstrip(b"\r") for line in body.split(b"\n") if line.strip()]
    elif media in JSON_TYPES or media.endswith("+json"):
        parts = _array_items(body)
    else:
        raise Problem(
            415,
            "unsupported-media-type",
            f"content type {media!r}: send application/json (an array of envelopes) or "
            "application/x-ndjson (one envelope a line)",
            field="Content-Type",
        )
    producer = who if who.kind == "producer" else None  # the operator: the trusted path
    # (the intake adds the producer to the origin a kept input is stored with)
    return [Input(part, f"http:{n}", producer=producer) for n, part in enumerate(parts, 1)]


def _array_items(body: bytes) -> list[bytes]:
    """Each element of a JSON array, as the bytes sent."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad_body(f"the body is not UTF-8 (byte {error.start})") from None
    at = _skip(text, 0)
    if at >= len(text) or text[at] != "[":
        raise _bad_body("the body is not a JSON array of envelopes")
    items: list[bytes] = []
    at = _skip(text, at + 1)
    if at < len(text) and text[at] == "]":
        return _end(text, at)
    while True:
        try:
            _, end = _DECODER.raw_decode(text, at)
        except json.JSONDecodeError as error:
            raise _bad_body(f"the body is not JSON: {error.msg} at character {error.pos}") from None
        items.append(text[at:end].encode())
        at = _skip(text, end)
        if at < len(text) and text[at] == ",":
            at = _skip(text, at + 1)
            continue
        if at < len(text) and text[at] == "]":
            _end(text, at)
            return items
        raise _bad_body(f"the body is not a JSON array: ',' or ']' expected at character {at}")


def _skip(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WHITESPACE:
        at += 1
    return at


def _end(text: str, at: int) -> list[bytes]:
    if _skip(text, at + 1) != len(text):
        raise _bad_body("the body holds more than one JSON array")
    return []


def outcome_view(index: int, outcome: Outcome) -> dict[str, Any]:
    """One outcome as answered."""
    rejection = outcome.rejection
    return {
        "index": index,
        "status": outcome.status,
        "event_id": outcome.event_id,
        "subject": outcome.subject,
        "rule": rejection.rule if rejection is not None else None,
        "field": (rejection.field or None) if rejection is not None else None,
        "reason": rejection.reason if rejection is not None else None,
        "repeat": outcome.repeat,
        "waits_for": outcome.waits_for,
    }


def ingest(runtime: Runtime, inputs: list[Input]) -> dict[str, Any]:
    """A request's batch through the ingestor, in one transaction with the batches of the
    requests that arrived while the one before was being stored (``GroupCommit``); the
    outcomes of the request's own inputs, in order."""
    if not inputs:
        return {"outcomes": [], "counts": {}}
    own = runtime.group_commit.ingest(inputs)
    views = [outcome_view(n, o) for n, o in enumerate(own, 1)]
    return {"outcomes": views, "counts": dict(Counter(v["status"] for v in views))}
