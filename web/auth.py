"""Who is asking: ``Authorization: Bearer <token>``, resolved by
``ledger.services.principals.authenticate``.

* ``POST /v1/events`` needs a producer (or the operator): each input carries it, and
  the intake rejects what is outside its scope, with the rule.
* reads need a reader (or the operator). A producer token may not read (403). A reader
  scoped to customers sees only theirs: another customer's ticket or customer is 404, as
  if it did not exist (its existence is not told); lists leave them out; questions over
  every customer (``/v1/metrics``, ``/v1/status``) are 403.
* no token, or one unknown or revoked: 401, and nothing is stored.
* ``ledger serve --no-auth`` (loopback only): every request acts as the local operator.
"""

from __future__ import annotations

from typing import Final

from fastapi import Request

from ledger.services.principals import LOCAL_OPERATOR, Principal, authenticate
from web.problems import Problem

CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="ledger"'}


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", detail, field="Authorization", headers=CHALLENGE)


def principal(request: Request) -> Principal:
    """The principal of the request (the local operator when auth is off)."""
    runtime = request.app.state.runtime
    if not request.app.state.auth:
        return LOCAL_OPERATOR
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _unauthorized("no Authorization header: send Authorization: Bearer <token>")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("the Authorization header is not Bearer <token>")
    found = authenticate(runtime.engine, token.strip())
    if found is None:
        raise _unauthorized("the bearer token is unknown or revoked")
    return found


def reader(request: Request) -> Principal:
    """A principal that may read (a reader or the operator), else 403."""
    found = principal(request)
    if found.kind not in ("reader", "operator"):
        raise Problem(
            403, "forbidden", f"{found.kind} {found.name} may not read: use a reader token"
        )
    return found


def producer(request: Request) -> Principal:
    """A principal that may send envelopes (a producer or the operator), else 403."""
    found = principal(request)
    if found.kind not in ("producer", "operator"):
        raise Problem(
            403, "forbidden", f"{found.kind} {found.name} may not send events: use a producer token"
        )
    return found


def scoped(who: Principal) -> bool:
    """Whether ``who`` reads only some customers."""
    return who.kind == "reader" and who.customers is not None


def whole_ledger(who: Principal, what: str) -> None:
    """403 for a reader scoped to customers asking a question over every customer."""
    if scoped(who):
        raise Problem(
            403,
            "forbidden",
            f"reader {who.name} reads some customers only; {what} is about every customer",
        )
