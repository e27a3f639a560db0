"""The ASGI application: ``create_app(database_url)``.

Routes only translate: query parameters and bodies in, a call to the application
service the command line calls (``ledger.services.answers``, ``ledger.services.intake``),
the document out, as ``ledger ... --json`` prints it. Every read answers for ``as_of``
(default: when the request is answered) and ``known_at`` (default: everything
recorded), and says so first in its JSON; instants are RFC 3339 with an offset.

Route handlers are plain functions: FastAPI runs them in its thread pool, so
``/healthz`` answers while a large POST is being stored.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from ledger.adapters.settings import resolve_database
from ledger.projections.registry import SubjectFailed
from ledger.services import answers
from ledger.services.followup import PENDING, ActionQuery
from ledger.services.principals import Principal
from ledger.services.queries import rejection_view
from ledger.services.queue import UNRESOLVED, BadOption, CustomerQuery, TicketQuery
from web import auth, html, pages
from web.auth import scoped, whole_ledger
from web.ingest import ingest, inputs_of, read_body
from web.metrics import instrument
from web.models import (
    EVENTS_BODY,
    ActionPage,
    Answer,
    BoardPage,
    CustomerPage,
    Health,
    IngestAnswer,
    PlayPage,
    ProblemOut,
    Readiness,
    RejectionPage,
    TicketPage,
    envelope_components,
)
from web.problems import Problem, bad_parameter, install, not_found
from web.runtime import DEFAULT_MAX_LAG, DEFAULT_STALL_SECONDS, Runtime

log = logging.getLogger("ledger.web")

DEFAULT_MAX_BODY: Final = 32 * 1024 * 1024
"""The largest POST body taken, in bytes (413 beyond)."""

bearer = HTTPBearer(auto_error=False, description="A producer token (POST) or a reader token.")

AsOf = Annotated[
    str | None,
    Query(
        description="Answer as of this instant (RFC 3339 with offset, e.g. "
        "2026-03-16T15:00:00Z); default now.",
        examples=["2026-03-16T15:00:00Z"],
    ),
]
KnownAt = Annotated[
    str | None,
    Query(description="Only what the ledger had recorded by this instant; default everything."),
]
CursorQ = Annotated[str | None, Query(description="The next_cursor of the page before (opaque).")]
PageSize = Annotated[
    int, Query(ge=1, le=pages.MAX_PAGE_SIZE, description="Items per page, at most 1000.")
]
TicketId = Annotated[str, Path(description="A ticket id, e.g. T-1001.")]
CustomerId = Annotated[str, Path(description="A customer id, e.g. C-042.")]
Reader = Annotated[Principal, Depends(auth.reader)]

PROBLEMS: Final[dict[int | str, dict[str, Any]]] = {
    code: {"model": ProblemOut, "description": why}
    for code, why in (
        (400, "A parameter or body the question cannot take"),
        (401, "No valid bearer token"),
        (403, "The token may not do that"),
        (422, "A parameter of the wrong type"),
    )
}
NOT_FOUND: Final[dict[int | str, dict[str, Any]]] = {
    404: {"model": ProblemOut, "description": "No such subject (or none this token may read)"}
}


class JsonAnswer(Response):
    """JSON as the command line prints it (orjson; instants RFC 3339, decimals as text)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


def instant(text: str | None, name: str) -> datetime | None:
    """A query parameter's instant, in UTC, or a 400 naming the parameter."""
    if text is None:
        return None
    forms = "RFC 3339 with an offset, e.g. 2026-03-16T15:00:00Z"
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise bad_parameter(name, f"{name} {text!r} is not an instant ({forms})") from None
    if value.tzinfo is None:
        raise bad_parameter(name, f"{name} {text!r} needs an offset ({forms})")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise bad_parameter(name, f"{name} {text!r} is out of the range of dates") from None


def _bad(error: BadOption) -> Problem:
    return bad_parameter(error.field, f"{error.field} {error.value}: {error.why}")


class Question:
    """The instants a read answers for, and its page: from the parameters, or from the
    cursor of the page before (which fixes them: see ``web.pages``)."""

    def __init__(
        self,
        as_of: str | None,
        known_at: str | None,
        filters: dict[str, Any] | None = None,
        cursor: str | None = None,
        page_size: int = pages.DEFAULT_PAGE_SIZE,
    ) -> None:
        self.filters = {"as_of": as_of, "known_at": known_at, **(filters or {})}
        self.page_size = page_size
        self.offset = 0
        asked_at = datetime.now(UTC)
        given_as_of, given_known = instant(as_of, "as_of"), instant(known_at, "known_at")
        if cursor is not None:
            found = pages.decode(cursor, self.filters)
            self.as_of, self.known_at, self.offset = found.as_of, found.known_at, found.offset
            self.pinned_known_at: datetime | None = found.known_at
        else:
            self.as_of = given_as_of or asked_at
            self.known_at = given_known
            self.pinned_known_at = given_known or asked_at

    def document(self, **parts: Any) -> dict[str, Any]:
        """The answer's JSON: the instants first."""
        return answers.document(self.as_of, self.known_at, **parts)

    def paged(self, key: str, items: list[dict[str, Any]]) -> dict[str, Any]:
        """One page of a list answer, with the cursor of the next."""
        chosen, after = pages.page(
            items, self.offset, self.page_size, self.as_of, self.pinned_known_at, self.filters
        )
        return {**self.document(**{key: chosen}), "next_cursor": after}


def _readable(who: Principal, customer_id: str | None) -> bool:
    return customer_id is not None and who.may_read(customer_id)


def _their_rows(who: Principal, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the customers ``who`` may read (a reader scoped to customers)."""
    return [r for r in rows if _readable(who, r["customer_id"])]


def _their_customer(who: Principal, customer: str | None, asked: Question) -> None:
    """A filter naming a customer ``who`` may not read is answered as one that does not
    exist (a scoped reader learns nothing of the others)."""
    if customer is not None and not who.may_read(customer):
        when = asked.as_of.isoformat()
        raise bad_parameter("customer", f"customer {customer}: no such customer as of {when}")


def create_app(
    database_url: str | None = None,
    *,
    auth_required: bool = True,
    max_body_bytes: int = DEFAULT_MAX_BODY,
    follow: bool = True,
    max_lag: int = DEFAULT_MAX_LAG,
    stall_seconds: float = DEFAULT_STALL_SECONDS,
) -> FastAPI:
    """The HTTP API on the ledger at ``database_url`` (a SQLite path or
    postgresql+psycopg URL; default as the command line: ``LEDGER_DB_URL`` or
    ``./ledger.db``). ``auth_required=False`` makes every request the local operator
    (``ledger serve --no-auth``, which only binds to loopback)."""
    database = resolve_database(database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(database, follow=follow, max_lag=max_lag, stall_seconds=stall_seconds)
        runtime.start()
        app.state.runtime = runtime
        # What the server holds from its start (modules, the app, the runtime) lives as
        # long as it does: out of the collector's way, so that a full collection during
        # a request looks at that request's objects only (at 1M events a page's answer
        # makes some 100k; with the 110k the process starts with, a full collection took
        # ~50 ms, and came every other page).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()
            runtime.close()

    app = FastAPI(
        title="ledger",
        version="1",
        summary="The event-sourced incident and ticket ledger over HTTP.",
        description="Envelopes in (`POST /v1/events`), the ledger's answers out, each as "
        "of `as_of` known at `known_at`: the same answers as `ledger ... --json`. Errors "
        "are RFC 9457 problem details.",
        lifespan=lifespan,
        default_response_class=JsonAnswer,
        # (FastAPI's /docs and /redoc load their scripts from a CDN: nothing the ledger
        # serves fetches from another origin; /openapi.json describes the API)
        docs_url=None,
        redoc_url=None,
    )
    app.state.auth = auth_required
    app.state.max_body = max_body_bytes
    install(app)
    _routes(app)
    html.register(app)  # the web board: pages for people (issue 19)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(
                envelope_components()
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    instrument(app, database.url)  # GET /metrics and the request latencies
    return app


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _routes(app: FastAPI) -> None:
    """Register every route on ``app``."""

    # the process ---------------------------------------------------------------------------

    @app.get("/healthz", response_model=Health, tags=["process"])
    async def healthz() -> dict[str, str]:
        """The process answers (nothing else is checked)."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["process"],
        responses={503: {"model": Readiness, "description": "Not ready"}},
    )
    def readyz(request: Request) -> Response:
        """The database answers and the read models keep up with the log (within the lag
        and the time since the last catch-up the server was started with)."""
        found = _runtime(request).readiness()
        body = {
            "ready": found.ready,
            "log_head": found.log_head,
            "behind": found.behind,
            "seconds_since_progress": round(found.seconds_since_progress, 3),
            "detail": found.detail,
        }
        return JsonAnswer(body, status_code=200 if found.ready else 503)

    # intake --------------------------------------------------------------------------------

    @app.post(
        "/v1/events",
        response_model=IngestAnswer,
        tags=["intake"],
        openapi_extra=EVENTS_BODY,
        responses={
            **PROBLEMS,
            413: {"model": ProblemOut, "description": "Body too large"},
            415: {"model": ProblemOut, "description": "Neither JSON nor NDJSON"},
        },
        dependencies=[Depends(bearer)],
    )
    async def post_events(
        request: Request, who: Annotated[Principal, Depends(auth.producer)]
    ) -> Response:
        """Ingest envelopes: each is accepted, a duplicate (same `event_id`, same
        content), deferred, or rejected with its rule, field and reason; in order, in
        one transaction (as `ledger ingest` stores a batch)."""
        runtime = _runtime(request)
        body = await read_body(request, request.app.state.max_body)
        inputs = inputs_of(body, request.headers.get("content-type", ""), who)
        log.info("POST /v1/events: %d inputs from %s", len(inputs), who.name)
        return JsonAnswer(await run_in_threadpool(ingest, runtime, inputs))

    # the queues ----------------------------------------------------------------------------

    @app.get(
        "/v1/tickets",
        response_model=TicketPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def tickets(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        status: Annotated[
            str | None,
            Query(
                description="unresolved (default), all, open, in_progress, "
                "waiting_on_customer, resolved or closed."
            ),
        ] = None,
        severity: Annotated[int | None, Query(description="Only this severity (1-4).")] = None,
        customer: Annotated[str | None, Query(description="Only this customer.")] = None,
        assignee: Annotated[str | None, Query(description="Only tickets assigned to A.")] = None,
        breaching_within: Annotated[
            int | None, Query(description="Only tickets whose next timer is due within MIN.")
        ] = None,
        sort: Annotated[
            str, Query(description="next-breach (default), opened or severity.")
        ] = "next-breach",
        limit: Annotated[int | None, Query(description="At most N tickets, after sorting.")] = None,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """The ticket queue (`ledger tickets --json`): one row per ticket with its next
        SLA timer, soonest breach first."""
        filters = dict(
            status=status or UNRESOLVED,
            severity=severity,
            customer=customer,
            assignee=assignee,
            breaching_within=breaching_within,
            sort=sort,
            limit=limit,
        )
        try:
            query = TicketQuery(**filters)  # type: ignore[arg-type]
        except BadOption as error:
            raise _bad(error) from None
        asked = Question(as_of, known_at, filters, cursor, page_size)
        _their_customer(who, customer, asked)
        runtime = _runtime(request)
        try:
            if scoped(who):  # the limit counts the tickets this reader sees
                rows = answers.tickets(
                    runtime.app,
                    runtime.engine,
                    asked.as_of,
                    asked.known_at,
                    replace(query, limit=None),
                )
                rows = _their_rows(who, rows)[:limit]
            else:
                rows = answers.tickets(
                    runtime.app, runtime.engine, asked.as_of, asked.known_at, query
                )
        except BadOption as error:
            raise _bad(error) from None
        return JsonAnswer(asked.paged("tickets", rows))

    @app.get(
        "/v1/customers",
        response_model=CustomerPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def customers(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        owner: Annotated[str | None, Query(description="Only customers of this owner.")] = None,
        health_below: Annotated[
            float | None, Query(description="Only customers whose health is below SCORE.")
        ] = None,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """The customer queue (`ledger customers --json`): health, trend, churn risks,
        open tickets, missed check-ins; lowest health first."""
        try:
            query = CustomerQuery(owner=owner, health_below=health_below)
        except BadOption as error:
            raise _bad(error) from None
        filters = {"owner": owner, "health_below": health_below}
        asked = Question(as_of, known_at, filters, cursor, page_size)
        runtime = _runtime(request)
        rows = answers.customers(runtime.app, runtime.engine, asked.as_of, asked.known_at, query)
        return JsonAnswer(asked.paged("customers", _their_rows(who, rows)))

    @app.get(
        "/v1/plays",
        response_model=PlayPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def plays(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        owner: Annotated[str | None, Query(description="Only plays of this owner.")] = None,
        customer: Annotated[str | None, Query(description="Only this customer.")] = None,
        open: Annotated[bool, Query(description="Only plays not closed.")] = False,
        overdue: Annotated[
            bool, Query(description="Only plays still open past their due instant.")
        ] = False,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """The success plays (`ledger plays --json`): owner, due, outreach and outcome of
        each play a churn risk opened; open ones soonest due first."""
        from ledger.services.plays import PlayQuery

        filters = {"owner": owner, "customer": customer, "open": open, "overdue": overdue}
        asked = Question(as_of, known_at, filters, cursor, page_size)
        _their_customer(who, customer, asked)
        query = PlayQuery(owner=owner, customer=customer, open_only=open, overdue_only=overdue)
        runtime = _runtime(request)
        try:
            rows = answers.plays(runtime.app, runtime.engine, asked.as_of, asked.known_at, query)
        except BadOption as error:
            raise _bad(error) from None
        return JsonAnswer(asked.paged("plays", _their_rows(who, rows)))

    @app.get(
        "/v1/actions",
        response_model=ActionPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def actions(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        status: Annotated[
            str | None,
            Query(
                description="pending (default: open or overdue), all, open, overdue, "
                "completed, verified or cancelled."
            ),
        ] = None,
        owner: Annotated[str | None, Query(description="Only actions owned by O.")] = None,
        ticket: Annotated[str | None, Query(description="Only this ticket's actions.")] = None,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """Preventive actions of RCAs and their follow-through (`ledger actions --json`),
        soonest due first; a reader scoped to customers sees their tickets' only."""
        filters = {"status": status or PENDING, "owner": owner, "ticket": ticket}
        try:
            query = ActionQuery(status=status or PENDING, owner=owner, ticket=ticket)
        except BadOption as error:
            raise _bad(error) from None
        asked = Question(as_of, known_at, filters, cursor, page_size)
        runtime = _runtime(request)
        try:
            rows = answers.actions(
                runtime.app,
                runtime.engine,
                asked.as_of,
                asked.known_at,
                query,
                customers=who.customers if scoped(who) else None,
            )
        except BadOption as error:
            raise _bad(error) from None
        return JsonAnswer(asked.paged("actions", rows))

    @app.get(
        "/v1/board",
        response_model=BoardPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def board(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        breached: Annotated[bool, Query(description="Only breached timers.")] = False,
        at_risk: Annotated[
            int | None, Query(ge=0, description="Only running timers due within MINUTES.")
        ] = None,
        open: Annotated[bool, Query(description="Only timers not stopped yet.")] = False,
        warned: Annotated[
            bool,
            Query(description="Only timers past their warning threshold, not stopped or breached."),
        ] = False,
        customer: Annotated[str | None, Query(description="Only this customer.")] = None,
        severity: Annotated[
            int | None, Query(ge=1, le=4, description="Only this severity.")
        ] = None,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """The SLA board (`ledger sla list --json`): every timer interval as of the
        instant, filtered, soonest due first."""
        filters = {
            "breached": breached,
            "at_risk": at_risk,
            "open_only": open,
            "customer": customer,
            "severity": severity,
            "warned": warned,
        }
        asked = Question(as_of, known_at, filters, cursor, page_size)
        runtime = _runtime(request)
        try:
            rows = answers.board(
                runtime.app,
                runtime.engine,
                asked.as_of,
                asked.known_at,
                breached=breached,
                at_risk=at_risk,
                open_only=open,
                customer=customer,
                severity=severity,
                warned=warned,
            )
        except OverflowError:
            if at_risk is None:
                raise
            raise bad_parameter(
                "at_risk", f"at_risk {at_risk}: as_of plus that many minutes is past year 9999"
            ) from None
        return JsonAnswer(asked.paged("timers", _their_rows(who, rows)))

    # one ticket ----------------------------------------------------------------------------

    def _ticket(
        request: Request,
        who: Principal,
        ticket_id: str,
        asked: Question,
        view: Callable[..., dict[str, Any]],
    ) -> Response:
        runtime = _runtime(request)
        if not _readable(who, answers.customer_of(runtime.app, ticket_id)):
            raise not_found(f"no ticket {ticket_id} in the ledger")
        try:
            found = view(runtime.app, ticket_id, asked.as_of, asked.known_at)
        except answers.Absent as error:
            raise not_found(_absent(error, asked)) from None
        except SubjectFailed as error:
            raise Problem(409, "subject-failed", str(error)) from None
        return JsonAnswer(asked.document(**found))

    @app.get(
        "/v1/tickets/{ticket_id}",
        response_model=Answer,
        tags=["reads"],
        responses={**PROBLEMS, **NOT_FOUND},
        dependencies=[Depends(bearer)],
    )
    def ticket(
        request: Request,
        who: Reader,
        ticket_id: TicketId,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response:
        """One ticket (`ledger ticket show --json`): state, SLA timers, rejected inputs
        and trail."""
        return _ticket(request, who, ticket_id, Question(as_of, known_at), answers.ticket_view)

    @app.get(
        "/v1/tickets/{ticket_id}/escalations",
        response_model=Answer,
        tags=["reads"],
        responses={**PROBLEMS, **NOT_FOUND},
        dependencies=[Depends(bearer)],
    )
    def escalations(
        request: Request,
        who: Reader,
        ticket_id: TicketId,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response:
        """The escalation timeline (`ledger escalations --json`)."""
        return _ticket(request, who, ticket_id, Question(as_of, known_at), answers.escalations)

    @app.get(
        "/v1/tickets/{ticket_id}/rca",
        response_model=Answer,
        tags=["reads"],
        responses={**PROBLEMS, **NOT_FOUND},
        dependencies=[Depends(bearer)],
    )
    def rca(
        request: Request,
        who: Reader,
        ticket_id: TicketId,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response:
        """The RCA with its timeline (`ledger rca --json`)."""
        return _ticket(request, who, ticket_id, Question(as_of, known_at), answers.rca)

    # one customer --------------------------------------------------------------------------

    @app.get(
        "/v1/customers/{customer_id}",
        response_model=Answer,
        tags=["reads"],
        responses={**PROBLEMS, **NOT_FOUND},
        dependencies=[Depends(bearer)],
    )
    def customer(
        request: Request,
        who: Reader,
        customer_id: CustomerId,
        as_of: AsOf = None,
        known_at: KnownAt = None,
    ) -> Response:
        """One customer (`ledger customer show --json`) with its health (`ledger health
        C --json`, under `health`)."""
        asked = Question(as_of, known_at)
        if not who.may_read(customer_id):
            raise not_found(f"no customer {customer_id} in the ledger")
        runtime = _runtime(request)
        try:
            found = answers.customer_view(runtime.app, customer_id, asked.as_of, asked.known_at)
        except answers.Absent as error:
            raise not_found(_absent(error, asked)) from None
        records = answers.health_records(
            runtime.app, runtime.engine, asked.as_of, asked.known_at, customer_id
        )
        return JsonAnswer(asked.document(**found, health=records[0] if records else None))

    # the whole ledger ----------------------------------------------------------------------

    @app.get(
        "/v1/metrics",
        response_model=Answer,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def metrics(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        from_: Annotated[
            str | None, Query(alias="from", description="Window start (default: the beginning).")
        ] = None,
        to: Annotated[str | None, Query(description="Window end (default: as_of).")] = None,
    ) -> Response:
        """Response times, SLA compliance, volume, repeats, resolution, CSAT, NPS, churn
        (`ledger metrics --json`)."""
        whole_ledger(who, "metrics")
        asked = Question(as_of, known_at)
        start, end = instant(from_, "from"), instant(to, "to")
        if start is not None and end is not None and start > end:
            raise bad_parameter(
                "from", f"from {from_} is after to {to}: the window would hold nothing"
            )
        runtime = _runtime(request)
        figures = answers.metrics(
            runtime.app, runtime.engine, asked.as_of, asked.known_at, start, end
        )
        return JsonAnswer(asked.document(**figures))

    @app.get(
        "/v1/insights",
        response_model=Answer,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def insights(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        from_: Annotated[
            str | None, Query(alias="from", description="Window start (default: the beginning).")
        ] = None,
        to: Annotated[str | None, Query(description="Window end (default: as_of).")] = None,
    ) -> Response:
        """Product areas ranked by customer pain, and root causes repeated on incidents
        with no runbook (`ledger insights --json`)."""
        whole_ledger(who, "insights")
        asked = Question(as_of, known_at)
        start, end = instant(from_, "from"), instant(to, "to")
        if start is not None and end is not None and start > end:
            raise bad_parameter(
                "from", f"from {from_} is after to {to}: the window would hold nothing"
            )
        runtime = _runtime(request)
        figures = answers.insights(
            runtime.app, runtime.engine, asked.as_of, asked.known_at, start, end
        )
        return JsonAnswer(asked.document(**figures))

    @app.get(
        "/v1/rejections",
        response_model=RejectionPage,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def rejections(
        request: Request,
        who: Reader,
        as_of: AsOf = None,
        known_at: KnownAt = None,
        subject: Annotated[str | None, Query(description="Only inputs for this subject.")] = None,
        since: Annotated[
            str | None, Query(description="Only inputs received at or after this instant.")
        ] = None,
        type: Annotated[str | None, Query(description="Only inputs of this wire type.")] = None,
        rule: Annotated[str | None, Query(description="Only this rule id, e.g. R-IN-1.")] = None,
        limit: Annotated[int | None, Query(ge=1, description="At most this many.")] = None,
        cursor: CursorQ = None,
        page_size: PageSize = pages.DEFAULT_PAGE_SIZE,
    ) -> Response:
        """Rejected inputs that count as of the instant (`ledger rejects list --json`,
        under `rejections`), oldest first, with rule, field, reason and the envelope."""
        received_since = instant(since, "since")
        if rule is not None and not answers.RULE_ID.fullmatch(rule):
            raise bad_parameter("rule", f"rule {rule!r} is not a rule id (R-AREA-N, e.g. R-IN-1)")
        filters = {"subject": subject, "since": since, "type": type, "rule": rule, "limit": limit}
        asked = Question(as_of, known_at, filters, cursor, page_size)
        runtime = _runtime(request)
        if type is not None and not answers.known_type(runtime.app, type):
            raise bad_parameter(
                "type",
                f"type {type!r} is no wire type of the contract, and no rejected input names it",
            )
        found = answers.rejections(
            runtime.app,
            rule=rule,
            subject=subject,
            event_type=type,
            since=received_since,
            limit=None if scoped(who) else limit,
            as_of=asked.as_of,
            known_at=asked.known_at,
        )
        if scoped(who):
            found = list(_their_rejections(runtime, who, found))[:limit]
        rows = [rejection_view(r) for r in found]
        return JsonAnswer(asked.paged("rejections", rows))

    @app.get(
        "/v1/status",
        response_model=Answer,
        tags=["reads"],
        responses=PROBLEMS,
        dependencies=[Depends(bearer)],
    )
    def status(
        request: Request,
        who: Reader,
        as_of: Annotated[
            str | None, Query(description="Only now: the status is the ledger's as it stands.")
        ] = None,
        known_at: Annotated[str | None, Query(description="Only absent: everything.")] = None,
    ) -> Response:
        """Where everything stands (`ledger status --json`): the log, projections,
        publishers, consumers, rejections; as of when it is asked, all that is known."""
        whole_ledger(who, "the status")
        if as_of is not None:
            raise bad_parameter(
                "as_of", "the status is the ledger's as it stands: ask without as_of"
            )
        if known_at is not None:
            raise bad_parameter(
                "known_at", "the status is of all that is known: ask without known_at"
            )
        asked = Question(None, None)
        runtime = _runtime(request)
        report = answers.status(runtime.app, runtime.engine, runtime.database.label)
        return JsonAnswer(asked.document(**report))


def _absent(error: answers.Absent, asked: Question) -> str:
    message = f"no {error.kind} {error.subject} in the ledger"
    if error.stored:
        message += f" as of {asked.as_of.isoformat()}"
        if asked.known_at is not None:
            message += f", known at {asked.known_at.isoformat()}"
    if error.rules:
        message += (
            f"; inputs for {error.subject} were rejected ({', '.join(error.rules)}): "
            f"GET /v1/rejections?subject={error.subject}"
        )
    return message


def _their_rejections(runtime: Runtime, who: Principal, found: list[Any]) -> Iterator[Any]:
    """The rejections whose subject is a customer ``who`` reads, or a ticket of one."""
    owners: dict[str, str | None] = {}
    for stored in found:
        subject = stored.rejection.subject
        if subject is None:
            continue
        if subject not in owners:
            owners[subject] = answers.customer_of(runtime.app, subject)
        if _readable(who, owners[subject]):
            yield stored
