"""The web board (issue 19): pages for people in a browser, on the answers the API and the
command line give (``ledger.services.answers``), registered on the API's app by
``register(app)``.

Every page answers as of ``as_of`` known at ``known_at`` (query parameters, in the forms
``web.present`` reads) and shows instants in the zone ``tz`` (a query parameter, kept in
a cookie; default UTC), with a customer's local time beside each instant about them. Links
keep the instants. Pages are HTML rendered on the server (Jinja2, ``web/templates``)
with the stylesheet and a little script from ``web/static``; nothing is fetched from
another origin (the Content-Security-Policy says so), and everything reads without
JavaScript, which only adds conveniences (the board's slider submits itself, keys).

Access: a reader signs in with its token (``ledger readers add``); the server keeps no
session state: the cookie holds the token encrypted and authenticated under a key of
this server (Fernet; ``LEDGER_SESSION_SECRET`` to share one between processes), read
back and checked against the ledger on every page, so a revoked token ends its sessions
at once. A reader scoped to customers sees only theirs (another customer's ticket or
customer is 404, as in the API); the audit page, about the whole log, is 403 for it. A
request with ``Authorization: Bearer`` is answered without a session. With ``ledger serve
--no-auth`` (loopback only) there is no sign-in, and every page says the board is open to
anyone on this machine.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit

import orjson
from cryptography.fernet import Fernet, InvalidToken
from fastapi import FastAPI, Request
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ledger.projections.registry import SubjectFailed
from ledger.services import answers
from ledger.services.principals import LOCAL_OPERATOR, Principal, authenticate
from ledger.services.queries import rejection_view
from ledger.services.queue import (
    ALL,
    SORTS,
    STATUS_CHOICES,
    UNRESOLVED,
    BadOption,
    CustomerQuery,
    TicketQuery,
)
from ledger.services.spoken import BadTime
from web import auth
from web.present import (
    COMMON_ZONES,
    age,
    as_instant,
    duration,
    local_clock,
    parse_when,
    shown,
    utc_text,
    zone,
)
from web.problems import Problem
from web.runtime import Runtime

log = logging.getLogger("ledger.web.pages")

HERE: Final = Path(__file__).resolve().parent
SESSION_COOKIE: Final = "ledger_session"
TZ_COOKIE: Final = "ledger_tz"
SESSION_SECONDS: Final = 12 * 3600
ENV_SECRET: Final = "LEDGER_SESSION_SECRET"
BOARD_DAYS: Final = 30
"""The board's slider spans this many days, up to the ledger's latest event (or now)."""
PAGE_ROWS: Final = 250
"""Rows per page of the board and the lists."""
CUSTOMER_ROWS: Final = 100
"""Customers per page of the customers page (lowest health first)."""
STATES: Final = ("open", "breached", "at_risk", "warned", "all")
DEFAULT_WITHIN: Final = 240

SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
"""On every page: nothing from another origin, no framing, nothing cached."""

NAV: Final = (
    ("board", "/board", "Board", "b"),
    ("queue", "/queue", "Queue", "q"),
    ("customers", "/customers", "Customers", "c"),
    ("rejections", "/rejections", "Rejections", "r"),
    ("audit", "/audit", "Audit", "a"),
)
"""The header's navigation: name, path, label, access key."""

COMPONENT_MAX: Final = {
    "usage_trend": 30,
    "error_frequency": 20,
    "support_load": 25,
    "engagement": 25,
}
"""The most points each health component gives (``ledger.projections.health``)."""


class PageError(Exception):
    """A page that cannot be shown as asked: its status and a sentence saying why."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


class SignIn(Exception):
    """No session: the sign-in page, then back here."""


def _pretty(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["duration"] = duration
    env.filters["json"] = _pretty
    env.globals["component_max"] = COMPONENT_MAX
    return env


TEMPLATES: Final = _environment()


# sessions --------------------------------------------------------------------------------


def _fernet(secret: str | None) -> Fernet:
    """The session key: derived from ``secret`` when given, else new for this process."""
    if secret:
        digest = hashlib.sha256(b"ledger-web-session/v1" + secret.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))
    return Fernet(Fernet.generate_key())


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _session_principal(request: Request) -> Principal:
    """Who the request is: the operator (no auth), a bearer token's reader, or the
    session's; ``SignIn`` when there is none (or it expired, or its token was revoked)."""
    if not request.app.state.auth:
        return LOCAL_OPERATOR
    if request.headers.get("authorization"):
        try:
            return auth.reader(request)
        except Problem as problem:
            raise PageError(problem.status, "Not allowed", problem.detail) from None
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        raise SignIn
    fernet: Fernet = request.app.state.page_sessions
    try:
        token = fernet.decrypt(cookie.encode(), ttl=SESSION_SECONDS).decode()
    except (InvalidToken, UnicodeError):
        raise SignIn from None
    found = authenticate(_runtime(request).engine, token)
    if found is None or found.kind != "reader":
        raise SignIn
    return found


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path of this site, else the board."""
    if target and re.fullmatch(r"/(?![/\\])[^\s]*", target):
        return target
    return "/board"


def _cross_origin(request: Request) -> bool:
    """Whether a form post comes from another site's page (login CSRF: a page elsewhere
    posting its own token to /signin would sign the victim in as the attacker's reader).

    By the headers browsers set, as OWASP's "verifying origin with standard headers" and
    Go's ``http.CrossOriginProtection`` check them: ``Sec-Fetch-Site`` when sent (only
    ``same-origin``, or ``none`` for what the user typed, is this site), else ``Origin``
    against the request's ``Host``. A request with neither comes from no browser page
    (curl, a script): it can forge nothing, and is let through."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")


def _refused_cross_origin(request: Request) -> Response:
    log.warning("refused a cross-origin post to %s", request.url.path)
    return Response(
        "403: a form of another site posted here; sign in from this site's own page.\n",
        status_code=403,
        media_type="text/plain; charset=utf-8",
    )


# what every page is asked for ------------------------------------------------------------


@dataclass
class View:
    """One page's question: who asks, the instants, the zone, and its own parameters."""

    request: Request
    who: Principal
    now: datetime
    as_of: datetime
    known_at: datetime | None
    tz: tzinfo
    tz_name: str
    given: dict[str, str]
    errors: list[str] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)
    set_tz: str | None = None

    @property
    def runtime(self) -> Runtime:
        return _runtime(self.request)

    @property
    def open_access(self) -> bool:
        return not bool(self.request.app.state.auth)

    @property
    def pinned(self) -> bool:
        """Whether the page is of a chosen instant (not of now)."""
        return "as_of" in self.given

    def param(self, name: str) -> str | None:
        value = self.request.query_params.get(name)
        return value.strip() if value is not None and value.strip() else None

    def number(self, name: str, low: int, high: int) -> int | None:
        text = self.param(name)
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise PageError(400, "Bad parameter", f"{name} {text!r} is not a number") from None
        if not low <= value <= high:
            raise PageError(400, "Bad parameter", f"{name} {value} is not in {low}..{high}")
        return value

    def instants(self) -> dict[str, str]:
        """The query parameters that fix the page's instants (what links keep)."""
        kept = {}
        if "as_of" in self.given:
            kept["as_of"] = utc_text(self.as_of)
        if self.known_at is not None:
            kept["known_at"] = utc_text(self.known_at)
        return kept

    @cached_property
    def _instants_query(self) -> str:
        """``link``'s query for a path alone (the rows' links: one per row and column)."""
        kept = self.instants()
        return "?" + urlencode(kept) if kept else ""

    def link(self, path: str, **params: Any) -> str:
        """A link to ``path`` keeping the page's instants (a parameter of None drops)."""
        if not params:
            return path + self._instants_query
        query = {**self.instants(), **params}
        shown_params = {k: str(v) for k, v in query.items() if v is not None and v != ""}
        return path + ("?" + urlencode(shown_params) if shown_params else "")

    def here(self, **params: Any) -> str:
        """This page with some parameters changed (the others kept)."""
        current = {k: v for k, v in self.request.query_params.items() if k not in ("tz", "at")}
        current.update(self.instants())
        current.update(params)
        kept = {k: str(v) for k, v in current.items() if v is not None and v != ""}
        return self.request.url.path + ("?" + urlencode(kept) if kept else "")

    def t(self, value: Any, customer_id: str | None = None) -> Markup:
        """An instant in the viewer's zone, with the customer's local time beside it."""
        at = as_instant(value)
        if at is None:
            return Markup('<span class="none">—</span>')
        text = escape(shown(at, self.tz))
        html = f'<time datetime="{escape(utc_text(at))}">{text}</time>'
        if customer_id is not None:
            local = local_clock(at, self.zones.get(customer_id))
            if local:
                html += f' <span class="local" title="local time of {escape(customer_id)}">'
                html += f"{escape(local)}</span>"
        return Markup(html)

    def since(self, value: Any) -> str:
        return age(value, self.as_of)


def _view(request: Request, who: Principal) -> View:
    """The page's instants and zone from its parameters (errors kept, to be shown)."""
    errors: list[str] = []
    query = request.query_params
    tz_text = (query.get("tz") or request.cookies.get(TZ_COOKIE) or "UTC").strip() or "UTC"
    set_tz = None
    try:
        tz = zone(tz_text)
        if query.get("tz"):
            set_tz = tz_text
    except BadTime as error:
        errors.append(str(error))
        tz, tz_text = UTC, "UTC"
    now = datetime.now(UTC)
    given = {k: query[k].strip() for k in ("as_of", "known_at") if query.get(k, "").strip()}
    as_of, known_at = now, None
    if "at" in query and query["at"].strip():
        try:
            as_of = datetime.fromtimestamp(int(query["at"]), UTC)
            given["as_of"] = utc_text(as_of)
        except (ValueError, OverflowError, OSError):
            errors.append(f"at {query['at']!r} is not a time (seconds since 1970)")
    elif "as_of" in given:
        try:
            as_of = parse_when(given["as_of"], "as of", tz=tz, now=now)
        except BadTime as error:
            errors.append(str(error))
    if "known_at" in given:
        try:
            known_at = parse_when(given["known_at"], "known at", tz=tz, now=now)
        except BadTime as error:
            errors.append(str(error))
    return View(request, who, now, as_of, known_at, tz, tz_text, given, errors, set_tz=set_tz)


Work = Callable[[View], tuple[str, dict[str, Any]]]


def _render(view: View | None, request: Request, name: str, context: dict[str, Any]) -> str:
    nav = [(key, path, label, key_) for key, path, label, key_ in NAV]
    return TEMPLATES.get_template(name).render(
        view=view,
        request=request,
        nav=nav,
        zones=COMMON_ZONES,
        **context,
    )


def _respond(html: str, status: int = 200, set_tz: str | None = None) -> HTMLResponse:
    response = HTMLResponse(html, status_code=status, headers=dict(SECURITY_HEADERS))
    if set_tz is not None:
        response.set_cookie(
            TZ_COOKIE, set_tz, max_age=365 * 86400, path="/", samesite="lax", httponly=True
        )
    return response


def _serve(request: Request, work: Work, *, whole_ledger: str | None = None) -> Response:
    """Who asks, the page's question, its answer rendered (or why not, as a page)."""
    try:
        who = _session_principal(request)
    except SignIn:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/signin?" + urlencode({"next": target}), status_code=303)
    except PageError as error:
        return _error_page(request, None, error)
    view = _view(request, who)
    try:
        if view.errors:
            raise PageError(400, "The time or zone cannot be read", "; ".join(view.errors))
        if whole_ledger is not None and auth.scoped(who):
            raise PageError(
                403,
                "Not for this reader",
                f"reader {who.name} reads some customers only; {whole_ledger} is about "
                "every customer",
            )
        name, context = work(view)
    except PageError as error:
        return _error_page(request, view, error)
    except SubjectFailed as error:
        return _error_page(request, view, PageError(409, "Cannot be folded", str(error)))
    return _respond(_render(view, request, name, context), set_tz=view.set_tz)


def _error_page(request: Request, view: View | None, error: PageError) -> HTMLResponse:
    html = _render(view, request, "error.html", {"error": error, "title": error.title})
    return _respond(html, error.status)


def _not_found(kind: str, subject: str) -> PageError:
    return PageError(404, "Not found", f"no {kind} {subject} in the ledger")


def _absent(error: answers.Absent, view: View) -> PageError:
    message = f"no {error.kind} {error.subject} in the ledger"
    if error.stored:
        message += f" as of {shown(view.as_of, view.tz)}"
        if view.known_at is not None:
            message += f", known at {shown(view.known_at, view.tz)}"
    if error.rules:
        message += f"; inputs for {error.subject} were rejected ({', '.join(error.rules)})"
    return PageError(404, "Not found", message)


def _bad(error: BadOption) -> PageError:
    return PageError(400, "Bad filter", f"{error.field} {error.value}: {error.why}")


def _paged(view: View, rows: list[dict[str, Any]], size: int = PAGE_ROWS) -> dict[str, Any]:
    """One page of ``rows``, ``size`` a page (``page``, from 1), and the page control."""
    pages = max(1, -(-len(rows) // size))
    page = min(view.number("page", 1, 1_000_000) or 1, pages)
    return _pager(view, len(rows), page, size, rows[(page - 1) * size : page * size])


def _pager(
    view: View, total: int, page: int, size: int, rows: list[dict[str, Any]]
) -> dict[str, Any]:
    """A page's ``rows`` (page ``page`` of ``total`` rows, ``size`` a page) and the links to
    the first, previous, next and last pages (each keeping the page's other parameters)."""
    pages = max(1, -(-total // size))
    return {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": pages,
        "first_row": (page - 1) * size + 1 if rows else 0,
        "first_link": view.here(page=None) if page > 2 else None,
        "prev_link": view.here(page=page - 1 if page > 2 else None) if page > 1 else None,
        "next_link": view.here(page=page + 1) if page < pages else None,
        "last_link": view.here(page=pages) if page < pages - 1 else None,
    }


# the pages ---------------------------------------------------------------------------------


def _board(view: View) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    state = view.param("state") or "open"
    if state not in STATES:
        raise PageError(400, "Bad filter", f"state {state!r}: use {', '.join(STATES)}")
    severity = view.number("severity", 1, 4)
    within = view.number("within", 0, 525_600) or DEFAULT_WITHIN
    customer = view.param("customer")
    try:
        rows = answers.board(
            runtime.app,
            runtime.engine,
            view.as_of,
            view.known_at,
            breached=state == "breached",
            at_risk=within if state == "at_risk" else None,
            open_only=state == "open",
            customer=customer,
            severity=severity,
            warned=state == "warned",
        )
    except OverflowError:
        raise PageError(400, "Bad filter", f"within {within}: past year 9999") from None
    rows = [r for r in rows if r["customer_id"] and view.who.may_read(r["customer_id"])]
    view.zones = answers.customer_zones(runtime.engine)
    latest = answers.latest_activity(runtime.engine)
    end = min(view.now, latest) if latest is not None else view.now
    end = end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start = end - timedelta(days=BOARD_DAYS)
    slider = {
        "min": int(start.timestamp()),
        "max": int(end.timestamp()),
        "value": int(min(max(view.as_of, start), end).timestamp()),
        "start": start,
        "end": end,
        "ticks": [start + timedelta(days=d) for d in range(0, BOARD_DAYS + 1, 5)],
    }
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["state"]] = counts.get(row["state"], 0) + 1
    customers = sorted(c for c in view.zones if view.who.may_read(c))
    return "board.html", {
        "title": "SLA board",
        "current": "board",
        "state": state,
        "states": STATES,
        "severity": severity,
        "within": within,
        "customer": customer,
        "customers": customers,
        "counts": counts,
        "slider": slider,
        **_paged(view, rows),
    }


def _queue(view: View) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    status = view.param("status") or UNRESOLVED
    sort = view.param("sort") or "next-breach"
    customer = view.param("customer")
    try:
        query = TicketQuery(
            status=status,
            severity=view.number("severity", 1, 4),
            customer=customer,
            assignee=view.param("assignee"),
            sort=sort,
        )
        if customer is not None and not view.who.may_read(customer):
            raise BadOption("customer", customer, "no such customer")
        rows = answers.tickets(runtime.app, runtime.engine, view.as_of, view.known_at, query)
    except BadOption as error:
        raise _bad(error) from None
    rows = [r for r in rows if r["customer_id"] and view.who.may_read(r["customer_id"])]
    view.zones = answers.customer_zones(runtime.engine)
    return "queue.html", {
        "title": "Ticket queue",
        "current": "queue",
        "query": query,
        "statuses": STATUS_CHOICES,
        "sorts": SORTS,
        "customers": sorted(c for c in view.zones if view.who.may_read(c)),
        **_paged(view, rows),
    }


def _chart_svg(view: View, ticket_id: str) -> Markup:
    """The incident chart ``ledger report`` draws (``replay.report``), of the ticket
    replayed from the log as of the page's instants."""
    from replay.history import replay_ticket
    from replay.report import incident_chart_svg

    replayed = replay_ticket(view.runtime.app, ticket_id, view.as_of, view.known_at)
    if replayed is None:
        return Markup("")
    return Markup(incident_chart_svg(replayed, view.as_of))


def _tier_times(escalation: dict[str, Any]) -> list[tuple[str, float]]:
    """Seconds spent at each tier, in the order first reached (the current one counted
    to the page's instant)."""
    spent: dict[str, float] = {}
    for step in escalation.get("steps", []):
        tier = step["from_tier"]
        spent[tier] = spent.get(tier, 0) + float(step.get("seconds_at_previous_tier") or 0)
    current = escalation.get("current_tier")
    if current:
        spent[current] = spent.get(current, 0) + float(
            escalation.get("seconds_at_current_tier") or 0
        )
    return list(spent.items())


def _trail_rows(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The trail with the rejected inputs among it, by when each happened."""
    rows = [{"rejected": False, **entry} for entry in ticket["trail"]]
    rows += [{**r, "rejected": True} for r in ticket["rejected"]]

    def key(row: dict[str, Any]) -> tuple[datetime, int]:
        at = as_instant(row.get("occurred_at")) or as_instant(row.get("received_at"))
        return (at or datetime.max.replace(tzinfo=UTC), 1 if row["rejected"] else 0)

    return sorted(rows, key=key)


def _summary(data: Mapping[str, Any]) -> str:
    """A line about an event's data: its first few short fields."""
    parts = []
    for name, value in data.items():
        if value is None or isinstance(value, dict | list) or name == "policy_version":
            continue
        text = str(value)
        parts.append(f"{name}: {text if len(text) <= 70 else text[:67] + '...'}")
        if len(parts) == 3:
            break
    return "; ".join(parts)


def _ticket(view: View, ticket_id: str) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    owner = answers.customer_of(runtime.app, ticket_id)
    if owner is None or not view.who.may_read(owner):
        raise _not_found("ticket", ticket_id)
    try:
        ticket = answers.ticket_view(runtime.app, ticket_id, view.as_of, view.known_at)
        escalation = answers.escalations(runtime.app, ticket_id, view.as_of, view.known_at)
        rca = answers.rca(runtime.app, ticket_id, view.as_of, view.known_at)
    except answers.Absent as error:
        raise _absent(error, view) from None
    view.zones = answers.customer_zones(runtime.engine)
    chart = _chart_svg(view, ticket_id)
    trail = _trail_rows(ticket)
    for row in trail:
        row["summary"] = _summary(row.get("data") or {})
    return "ticket.html", {
        "title": f"{ticket_id}: {ticket['title']}",
        "current": "queue",
        "ticket": ticket,
        "escalation": escalation,
        "tier_times": _tier_times(escalation),
        "rca": rca,
        "chart": chart,
        "trail": trail,
    }


def _customers(view: View) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    below = view.param("health_below")
    try:
        query = CustomerQuery(
            owner=view.param("owner"), health_below=None if below is None else float(below)
        )
    except ValueError:
        raise PageError(400, "Bad filter", f"health_below {below!r} is not a score") from None
    except BadOption as error:
        raise _bad(error) from None
    asked = view.number("page", 1, 1_000_000) or 1
    total, page, rows = answers.customers_page(
        runtime.app,
        runtime.engine,
        view.as_of,
        view.known_at,
        query,
        view.who.may_read,
        asked,
        CUSTOMER_ROWS,
    )
    view.zones = answers.customer_zones(runtime.engine, [r["customer_id"] for r in rows])
    return "customers.html", {
        "title": "Customers",
        "current": "customers",
        "query": query,
        **_pager(view, total, page, CUSTOMER_ROWS, rows),
    }


def _trend_svg(points: list[dict[str, Any]], view: View) -> Markup:
    """The health score over the days before the page's instant, as a line on 0-100."""
    width, height, left, top, bottom = 640, 180, 34, 10, 24
    inner_w, inner_h = width - left - 10, height - top - bottom
    if not points:
        return Markup("")
    first = as_instant(points[0]["at"]) or view.as_of
    span = max((view.as_of - first).total_seconds(), 1.0)

    def x(at: Any) -> float:
        when = as_instant(at) or view.as_of
        return round(left + inner_w * (when - first).total_seconds() / span, 1)

    def y(score: float) -> float:
        return round(top + inner_h * (1 - score / 100), 1)

    parts = [
        f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-labelledby="trend-title">'
        f'<title id="trend-title">Health score over the last {len(points) - 1} days</title>'
    ]
    for level in (0, 25, 50, 75, 100):
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y(level)}" y2="{y(level)}" '
            f'class="{"threshold" if level == 50 else "grid"}"/>'
            f'<text x="{left - 6}" y="{y(level) + 4}" text-anchor="end">{level}</text>'
        )
    line = " ".join(f"{x(p['at'])},{y(float(p['score']))}" for p in points)
    parts.append(f'<polyline class="score" points="{line}"/>')
    last = points[-1]
    parts.append(
        f'<circle class="now" cx="{x(last["at"])}" cy="{y(float(last["score"]))}" r="4">'
        f"<title>{escape(shown(last['at'], view.tz))}: {last['score']}</title></circle>"
    )
    for at, anchor in (
        (points[0]["at"], "start"),
        (points[len(points) // 2]["at"], "middle"),
        (last["at"], "end"),
    ):
        when = as_instant(at) or view.as_of
        parts.append(
            f'<text x="{x(at)}" y="{height - 6}" text-anchor="{anchor}">'
            f"{escape(when.astimezone(view.tz).strftime('%Y-%m-%d'))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _customer(view: View, customer_id: str) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    if not view.who.may_read(customer_id):
        raise _not_found("customer", customer_id)
    try:
        found = answers.customer_view(runtime.app, customer_id, view.as_of, view.known_at)
    except answers.Absent as error:
        raise _absent(error, view) from None
    trend = answers.health_trend(
        runtime.app, runtime.engine, view.as_of, view.known_at, customer_id
    )
    try:
        tickets = answers.tickets(
            runtime.app,
            runtime.engine,
            view.as_of,
            view.known_at,
            TicketQuery(status=ALL, customer=customer_id, sort="opened"),
        )
    except BadOption:
        tickets = []
    view.zones = answers.customer_zones(runtime.engine)
    calendar = found.get("calendar") or {}
    if calendar.get("timezone"):
        view.zones[customer_id] = str(calendar["timezone"])
    health = None
    if trend:
        health = {k: v for k, v in trend[-1].items() if k != "at"}
    return "customer.html", {
        "title": f"{customer_id}: {found.get('name') or ''}",
        "current": "customers",
        "customer": found,
        "health": health,
        "trend": trend,
        "trend_svg": _trend_svg(trend, view),
        "tickets": tickets,
        "local_now": local_clock(view.as_of, view.zones.get(customer_id)),
    }


def _rejections(view: View) -> tuple[str, dict[str, Any]]:
    runtime = view.runtime
    rule, subject, wire_type = view.param("rule"), view.param("subject"), view.param("type")
    if rule is not None and not answers.RULE_ID.fullmatch(rule):
        raise PageError(400, "Bad filter", f"rule {rule!r} is not a rule id (e.g. R-IN-1)")
    if wire_type is not None and not answers.known_type(runtime.app, wire_type):
        raise PageError(400, "Bad filter", f"type {wire_type!r} is no wire type of the contract")
    found = answers.rejections(
        runtime.app,
        rule=rule,
        subject=subject,
        event_type=wire_type,
        as_of=view.as_of,
        known_at=view.known_at,
    )
    if auth.scoped(view.who):
        owners: dict[str, str | None] = {}
        kept = []
        for stored in found:
            key = stored.rejection.subject
            if key is None:
                continue
            if key not in owners:
                owners[key] = answers.customer_of(runtime.app, key)
            owner = owners[key]
            if owner is not None and view.who.may_read(owner):
                kept.append(stored)
        found = kept
    rows = [rejection_view(r) for r in reversed(found)]  # newest first
    return "rejections.html", {
        "title": "Rejected inputs",
        "current": "rejections",
        "rule": rule,
        "subject": subject,
        "type": wire_type,
        **_paged(view, rows),
    }


def _audit(view: View) -> tuple[str, dict[str, Any]]:
    from replay.checkpoint import latest_checkpoint
    from replay.keys import KeyError_, trusted_public
    from replay.verify import verify

    runtime = view.runtime
    latest = latest_checkpoint(runtime.engine)
    statement = None if latest is None else latest.statement
    created = None if statement is None else as_instant(statement.get("created_at"))
    state = view.request.app.state
    result: dict[str, Any] | None = getattr(state, "page_verified", None)
    key_problem = None
    if view.param("verify") is not None:
        try:
            trusted = trusted_public(None)
        except KeyError_ as error:
            key_problem = str(error)
        else:
            started = datetime.now(UTC)
            found = verify(runtime.app, runtime.engine, trusted)
            result = {
                **found.as_dict(),
                "at": started,
                "seconds": (datetime.now(UTC) - started).total_seconds(),
            }
            result["findings"] = result["findings"][:50]
            state.page_verified = result
    return "audit.html", {
        "title": "Audit",
        "current": "audit",
        "checkpoint": statement,
        "created": created,
        "checkpoint_age": None if created is None else age(created, view.now),
        "verified": result,
        "key_problem": key_problem,
    }


# registration ------------------------------------------------------------------------------


def register(app: FastAPI) -> None:
    """Add the pages, the sign-in and the static files to ``app`` (left out of the
    OpenAPI document: they are for people)."""
    app.state.page_sessions = _fernet(os.environ.get(ENV_SECRET))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse("/board" + query, status_code=303)

    @app.get("/board", include_in_schema=False)
    def board_page(request: Request) -> Response:
        return _serve(request, _board)

    @app.get("/queue", include_in_schema=False)
    def queue_page(request: Request) -> Response:
        return _serve(request, _queue)

    @app.get("/tickets/{ticket_id}", include_in_schema=False)
    def ticket_page(request: Request, ticket_id: str) -> Response:
        return _serve(request, lambda view: _ticket(view, ticket_id))

    @app.get("/customers", include_in_schema=False)
    def customers_page(request: Request) -> Response:
        return _serve(request, _customers)

    @app.get("/customers/{customer_id}", include_in_schema=False)
    def customer_page(request: Request, customer_id: str) -> Response:
        return _serve(request, lambda view: _customer(view, customer_id))

    @app.get("/rejections", include_in_schema=False)
    def rejections_page(request: Request) -> Response:
        return _serve(request, _rejections)

    @app.get("/audit", include_in_schema=False)
    def audit_page(request: Request) -> Response:
        return _serve(request, _audit, whole_ledger="the audit of the log")

    @app.get("/signin", include_in_schema=False)
    def signin_form(request: Request) -> Response:
        if not request.app.state.auth:
            return RedirectResponse(_safe_next(request.query_params.get("next")), 303)
        context = {"title": "Sign in", "next": _safe_next(request.query_params.get("next"))}
        return _respond(_render(None, request, "signin.html", {**context, "problem": None}))

    @app.post("/signin", include_in_schema=False)
    async def signin(request: Request) -> Response:
        if _cross_origin(request):
            return _refused_cross_origin(request)
        body = await request.body()
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        token = (form.get("token") or [""])[0].strip()
        target = _safe_next((form.get("next") or [""])[0])
        if not request.app.state.auth:
            return RedirectResponse(target, 303)
        found = None
        if token and len(token) <= 512:
            found = await run_in_threadpool(authenticate, _runtime(request).engine, token)
        problem = None
        if found is None:
            problem = "That token is unknown or revoked."
        elif found.kind != "reader":
            problem = f"{found.kind} {found.name} may not read: sign in with a reader's token."
        if problem is not None:
            context = {"title": "Sign in", "next": target, "problem": problem}
            return _respond(_render(None, request, "signin.html", context), 401)
        assert found is not None
        log.info("page session for reader %s", found.name)
        fernet: Fernet = request.app.state.page_sessions
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            fernet.encrypt(token.encode()).decode(),
            max_age=SESSION_SECONDS,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    @app.post("/signout", include_in_schema=False)
    def signout(request: Request) -> Response:
        if _cross_origin(request):
            return _refused_cross_origin(request)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response
