"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the API answers is one ``Problem``: ``type`` (a URI naming the kind),
``title``, ``status``, ``detail``, ``instance`` (the request's path), and for bad input
``field`` (the query parameter, header or body part at fault) and ``rule`` (the
ledger's rule id, where one applies). Request validation by FastAPI (a query parameter
that is not a number, say) is turned into the same shape, naming the parameter.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_BASE: Final = "https://ledger.example/problems/"
PROBLEM_JSON: Final = "application/problem+json"

TITLES: Final = {
    "bad-parameter": "A query parameter cannot be used",
    "bad-body": "The request body cannot be read",
    "body-too-large": "The request body is too large",
    "unauthorized": "A valid bearer token is needed",
    "forbidden": "This token may not do that",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "unsupported-media-type": "Unsupported media type",
    "subject-failed": "The subject cannot be folded",
    "not-ready": "Not ready",
    "server-error": "The server failed",
}
"""The title of each kind of problem (``type`` is ``PROBLEM_BASE`` + the kind)."""


class Problem(Exception):
    """An error to answer as problem details."""

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        *,
        field: str | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.field = field
        self.rule = rule
        self.headers = headers or {}

    def body(self, instance: str) -> dict[str, Any]:
        """The problem details object."""
        found: dict[str, Any] = {
            "type": PROBLEM_BASE + self.kind,
            "title": TITLES.get(self.kind, self.kind),
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        if self.field is not None:
            found["field"] = self.field
        if self.rule is not None:
            found["rule"] = self.rule
        return found


def bad_parameter(name: str, detail: str, *, rule: str | None = None) -> Problem:
    """A query parameter the question cannot take (400), naming it."""
    return Problem(400, "bad-parameter", detail, field=name, rule=rule)


def not_found(detail: str) -> Problem:
    """No such ticket or customer (or none this token may read): 404."""
    return Problem(404, "not-found", detail)


def response(problem: Problem, instance: str) -> Response:
    """The problem as an HTTP response."""
    return Response(
        orjson.dumps(problem.body(instance)),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=problem.headers,
    )


def _field(location: tuple[Any, ...] | list[Any]) -> str:
    """The parameter a validation error is about (``query.severity`` -> ``severity``)."""
    parts = [str(p) for p in location if p not in ("query", "path", "header", "body")]
    return ".".join(parts) or ".".join(str(p) for p in location)


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as problem details."""

    async def on_problem(request: Request, error: Exception) -> Response:
        assert isinstance(error, Problem)
        return response(error, request.url.path)

    async def on_invalid(request: Request, error: Exception) -> Response:
        assert isinstance(error, RequestValidationError)
        first = error.errors()[0] if error.errors() else {"loc": (), "msg": str(error)}
        name = _field(tuple(first.get("loc", ())))
        given = first.get("input")
        shown = f" {given!r}" if isinstance(given, str | int | float) else ""
        detail = f"{name}{shown}: {first.get('msg', 'invalid')}"
        return response(Problem(422, "bad-parameter", detail, field=name), request.url.path)

    async def on_http(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        kind = {404: "not-found", 405: "method-not-allowed", 415: "unsupported-media-type"}.get(
            error.status_code, "bad-body" if error.status_code < 500 else "server-error"
        )
        headers = dict(error.headers) if error.headers else None
        problem = Problem(error.status_code, kind, str(error.detail), headers=headers)
        return response(problem, request.url.path)

    async def on_error(request: Request, error: Exception) -> Response:
        problem = Problem(500, "server-error", f"{type(error).__name__}: the server failed")
        return response(problem, request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_error)
