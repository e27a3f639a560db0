"""Sending one webhook: an HTTP POST with the standard library (no redirects followed).

Any answer is an outcome, never an exception: a status code, or the error that kept
one from coming (refused, reset, timed out, a malformed answer).
"""

from __future__ import annotations

import http.client
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

USER_AGENT: Final = "ledger-webhooks/1"
READ_LIMIT: Final = 4096  # bytes of a response body read (and dropped)


@dataclass(frozen=True)
class SendResult:
    """What came of one POST: the status code, or the error that kept one from coming."""

    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        """A 2xx answer: delivered."""
        return self.status_code is not None and 200 <= self.status_code < 300


def post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> SendResult:
    """POST ``body`` to ``url`` (http or https) with ``headers``; 3xx is not followed."""
    parts = urlsplit(url)
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
        try:
            connection.request(
                "POST",
                target,
                body=body,
                headers={
                    "content-type": "application/json",
                    "user-agent": USER_AGENT,
                    **headers,
                },
            )
            response = connection.getresponse()
            response.read(READ_LIMIT)
        finally:
            connection.close()
    except (OSError, http.client.HTTPException) as error:
        return SendResult(None, f"{type(error).__name__}: {error}".rstrip(": "))
    if 200 <= response.status < 300:
        return SendResult(response.status, None)
    return SendResult(response.status, f"HTTP {response.status} {response.reason}".strip())
