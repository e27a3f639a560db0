"""The web board (issue 19) against a live ``ledger serve`` on loopback, on a demo ledger.

Plain HTTP first (no JavaScript): every page answers, holds its content and names no
other origin; sign-in sets a session cookie with the usual flags; a reader scoped to a
customer sees only theirs; ``--no-auth`` says the board is open. Then a real browser
(Playwright driving Debian's ``chromium``, never a downloaded one): the board's rows as of
three instants equal ``ledger sla list --open --as-of T --json``, the slider moves it, a
ticket page holds every trail entry of ``ledger ticket show --json``, a customer page
shows the score of ``ledger health C --json``, no console error, no request leaves the
origin, and the screenshots are not blank. One demo ledger and one browser per module.

``LEDGER_WEB_SCREENSHOTS=docs/screenshots`` also writes the board and ticket screenshots
the README shows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image, ImageStat

from tests.e2e.http_support import ROOT, Server, cli_json, serving

INSTANTS = ("2026-02-10T09:30:00Z", "2026-03-16T15:00:00Z", "2026-04-05T12:00:00Z")
LATE = INSTANTS[-1]
TICKET = "T-1068"  # C-002's: escalated and back, an RCA, and an input rejected (R-IN-3)
CUSTOMER = "C-002"
OTHER_CUSTOMER = "C-010"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = os.environ.get("LEDGER_WEB_SCREENSHOTS")


class Demo:
    """The demo ledger, its tokens and its server."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = str(root / "demo.db")
        self.key = str(root / "signing-key.pem")
        self.env = {**os.environ, "LEDGER_SIGNING_KEY": self.key}
        for args in (["demo"], ["checkpoint"]):
            run = subprocess.run(
                [sys.executable, "-m", "cli", *args, "--db", self.db],
                cwd=ROOT,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        self.reader = self.token("readers", "add", "web-all")
        self.scoped = self.token("readers", "add", "web-c002", "--customer", CUSTOMER)
        self.producer = self.token(
            "producers", "add", "web-p", "--source", "x", "--role", "customer", "--type", "*"
        )
        before = os.environ.get("LEDGER_SIGNING_KEY")
        os.environ["LEDGER_SIGNING_KEY"] = self.key  # the server verifies with the same key
        try:
            self.server = Server(self.db)
        finally:
            if before is None:
                del os.environ["LEDGER_SIGNING_KEY"]
            else:
                os.environ["LEDGER_SIGNING_KEY"] = before

    def token(self, *args: str) -> str:
        found: str = cli_json(*args, db=self.db)["token"]
        return found

    @contextmanager
    def session(self, token: str) -> Iterator[httpx.Client]:
        """A client signed in through the form (the cookie, not a bearer header)."""
        with httpx.Client(base_url=self.server.url, timeout=60) as client:
            answer = client.post("/signin", data={"token": token, "next": "/board"})
            assert answer.status_code == 303, answer.text
            yield client


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    found = Demo(tmp_path_factory.mktemp("web"))
    try:
        yield found
    finally:
        found.server.stop()


class Page(HTMLParser):
    """What a test reads of a page: every URL it names, and rows by their data-*."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.ids: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for name in ("src", "href", "action", "formaction", "poster", "srcset"):
            if name in a:
                self.urls.append(a[name])
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "tr" and any(k.startswith("data-") for k in a):
            self.rows.append({k[5:]: v for k, v in a.items() if k.startswith("data-")})


def _same_origin(html: str) -> None:
    """No URL of another origin, in any attribute or anywhere in the text (the SVG
    namespace name is not fetched)."""
    for url in Page(html).urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, url
    stripped = html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"(?i)\b(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", stripped), re.findall(
        r"(?i)\S*//[a-z0-9.-]+\.[a-z]{2,}\S*", stripped
    )[:5]


def _get(client: httpx.Client, path: str, status: int = 200) -> str:
    answer = client.get(path)
    assert answer.status_code == status, (path, answer.status_code, answer.text[-1500:])
    assert answer.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    return answer.text


def _number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def _cli_board(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What the board and ``sla list --json`` are compared on, of the CLI's rows."""
    return [
        (r["ticket_id"], r["timer"], r["seq"], r["state"], r["time_left"], r["overdue_by"])
        for r in rows
    ]


def _page_board(rows: list[dict[str, str]]) -> list[tuple[Any, ...]]:
    """The same of the page's rows (their data-* attributes)."""
    return [
        (
            r["ticket"],
            r["timer"],
            int(r["seq"]),
            r["state"],
            _number(r["time-left"]),
            _number(r["overdue-by"]),
        )
        for r in rows
        if "timer" in r
    ]


# plain HTTP ----------------------------------------------------------------------------------


def test_every_page_reads_without_javascript_and_names_no_other_origin(demo: Demo) -> None:
    with demo.session(demo.reader) as client:
        pages = {
            "/board": ["SLA board", 'id="board"', 'type="range"', "Show this instant"],
            f"/board?state=breached&as_of={LATE}": ["breached"],
            f"/queue?as_of={LATE}": ['id="queue"', "T-13"],
            f"/tickets/{TICKET}?as_of={LATE}": ['id="trail"', "incident-chart", "Root cause"],
            "/customers": ['id="customers"', CUSTOMER],
            f"/customers/{CUSTOMER}?as_of={LATE}": ['id="score"', "svg", "Check-ins"],
            "/rejections": ['id="rejections"', "R-IN-1"],
            "/audit": ["Latest checkpoint", 'id="checkpoint"'],
        }
        for path, wanted in pages.items():
            html = _get(client, path)
            for text in wanted:
                assert text in html, (path, text)
            assert "web-all" in html  # who is signed in
            _same_origin(html)
        for asset in ("/static/app.css", "/static/app.js", "/static/favicon.svg"):
            answer = client.get(asset)
            assert answer.status_code == 200, asset
            assert "http" not in answer.text.replace("http://www.w3.org/2000/svg", ""), asset
        # the instants are echoed and kept by the links; dates read in the zone shown
        html = _get(client, "/board?as_of=2026-03-16&tz=America/New_York&state=breached")
        assert "2026-03-16 00:00 EDT" in html
        assert "as_of=2026-03-16T04%3A00%3A00Z" in html
        assert (client.cookies.get("ledger_tz") or "").strip('"') == "America/New_York"
        assert "2026-03-16 00:00 EDT" in _get(client, "/board?as_of=2026-03-16")  # the cookie
        audit = _get(client, "/audit?verify=1", 200)
        assert 'data-ok="true"' in audit and "ago" in audit
        # what cannot be read says so, on a page
        assert "not a time" in _get(client, "/board?as_of=soon", 400)
        assert "not an IANA time zone" in _get(client, "/board?tz=Mars/Olympus", 400)
        assert "no ticket T-0" in _get(client, "/tickets/T-0", 404)
        assert "state" in _get(client, "/board?state=sideways", 400)


def test_board_rows_equal_sla_list_as_of_three_instants(demo: Demo) -> None:
    with demo.session(demo.reader) as client:
        for at in INSTANTS:
            cli = cli_json("sla", "list", "--open", "--as-of", at, db=demo.db)["timers"]
            rows = _page_board(Page(_get(client, f"/board?as_of={at}")).rows)
            assert rows and rows == _cli_board(cli), at
        cli = cli_json("sla", "list", "--breached", "--severity", "2", "--as-of", LATE, db=demo.db)
        page = Page(_get(client, f"/board?as_of={LATE}&state=breached&severity=2"))
        assert _page_board(page.rows) == _cli_board(cli["timers"])


def test_sign_in_session_cookie_and_sign_out(demo: Demo) -> None:
    with httpx.Client(base_url=demo.server.url, timeout=60) as client:
        answer = client.get("/queue?status=all")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin?next=%2Fqueue%3Fstatus%3Dall"
        form = _get(client, "/signin?next=/queue")
        assert 'type="password"' in form and 'action="/signin"' in form
        assert "Open board" not in form
        for token, why in (("nope", "unknown or revoked"), (demo.producer, "may not read")):
            refused = client.post("/signin", data={"token": token, "next": "/queue"})
            assert refused.status_code == 401 and why in refused.text
        signed = client.post("/signin", data={"token": demo.reader, "next": "//evil.example/"})
        assert signed.status_code == 303 and signed.headers["location"] == "/board"
        cookie = signed.headers["set-cookie"]
        assert cookie.startswith("ledger_session=")
        assert demo.reader not in cookie  # the token is kept encrypted
        flags = {f.strip().lower() for f in cookie.split(";")[1:]}
        assert {"httponly", "samesite=lax", "path=/"} <= flags
        assert "secure" not in flags  # plain HTTP on loopback; set when the request is https
        assert "web-all" in _get(client, "/board")
        out = client.post("/signout")
        assert out.status_code == 303 and 'ledger_session=""' in out.headers["set-cookie"]
        client.cookies.clear()
        assert client.get("/board").status_code == 303
        # a forged or tampered cookie is no session
        client.cookies.set("ledger_session", "gAAAAAforged")
        assert client.get("/board").status_code == 303
    # a bearer token reads the pages too (no session)
    with demo.server.client(demo.reader) as bearer:
        assert "web-all" in _get(bearer, "/customers")
    with demo.server.client("wrong") as bearer:
        assert "unknown or revoked" in _get(bearer, "/customers", 401)


def test_a_form_post_from_another_site_is_refused(demo: Demo) -> None:
    """Login CSRF: another site's page posting its own reader's token to /signin (or
    posting /signout) gets 403 and no cookie; this site's own form, and a client that is
    no browser page (no Origin, no Sec-Fetch-Site), are let through."""
    host = demo.server.url.split("://", 1)[1]
    form = {"token": demo.reader, "next": "/board"}
    with httpx.Client(base_url=demo.server.url, timeout=60) as client:
        for headers in (
            {"Origin": "https://evil.example"},
            {"Origin": "null"},
            {"Origin": f"http://{host}", "Sec-Fetch-Site": "cross-site"},
            {"Sec-Fetch-Site": "same-site"},
        ):
            for path in ("/signin", "/signout"):
                refused = client.post(path, data=form, headers=headers)
                assert refused.status_code == 403, (path, headers, refused.status_code)
                assert "set-cookie" not in refused.headers
        for headers in (
            {"Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"},
            {"Origin": f"http://{host}"},
            {},
        ):
            signed = client.post("/signin", data=form, headers=headers)
            assert signed.status_code == 303, (headers, signed.text)
            assert signed.headers["set-cookie"].startswith("ledger_session=")


def test_a_scoped_reader_sees_only_its_customer(demo: Demo) -> None:
    theirs = {r["ticket_id"] for r in cli_json("tickets", "--status", "all", db=demo.db)["tickets"]}
    other = next(
        r["ticket_id"]
        for r in cli_json("tickets", "--status", "all", "--customer", OTHER_CUSTOMER, db=demo.db)[
            "tickets"
        ]
    )
    assert other in theirs
    with demo.session(demo.scoped) as client:
        board = Page(_get(client, f"/board?as_of={LATE}&state=all"))
        cli = cli_json("sla", "list", "--customer", CUSTOMER, "--as-of", LATE, db=demo.db)
        assert _page_board(board.rows) == _cli_board(cli["timers"])
        queue = Page(_get(client, f"/queue?status=all&as_of={LATE}"))
        assert queue.rows and all(r["ticket"] for r in queue.rows)
        mine = cli_json(
            "tickets", "--status", "all", "--customer", CUSTOMER, "--as-of", LATE, db=demo.db
        )["tickets"]
        assert [r["ticket"] for r in queue.rows] == [t["ticket_id"] for t in mine]
        customers = Page(_get(client, "/customers"))
        assert [r["customer"] for r in customers.rows] == [CUSTOMER]
        assert CUSTOMER in _get(client, f"/customers/{CUSTOMER}")
        assert TICKET in _get(client, f"/tickets/{TICKET}")
        assert f"no customer {OTHER_CUSTOMER}" in _get(client, f"/customers/{OTHER_CUSTOMER}", 404)
        assert f"no ticket {other}" in _get(client, f"/tickets/{other}", 404)
        assert "reads some customers only" in _get(client, "/audit", 403)
        rejections = _get(client, "/rejections")
        subjects = set(re.findall(r">((?:T|C)-\d+)</a></td>", rejections))
        assert subjects <= {CUSTOMER, *(t["ticket_id"] for t in mine)}, subjects
        refused = Page(_get(client, f"/queue?customer={OTHER_CUSTOMER}", 400))
        assert "queue" not in refused.ids and not refused.rows


def test_revoking_a_reader_ends_its_sessions(demo: Demo) -> None:
    token = demo.token("readers", "add", "web-brief")
    with demo.session(token) as client:
        assert "web-brief" in _get(client, "/board")
        cli_json("readers", "revoke", "web-brief", db=demo.db)
        answer = client.get("/board")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/signin")


def test_no_auth_pages_say_they_are_open(tmp_path: Path) -> None:
    with serving(str(tmp_path / "empty.db"), "--no-auth") as server, server.client() as client:
        html = _get(client, "/board")
        assert 'id="open-banner"' in html and "--no-auth" in html and "local operator" in html
        assert "No timers" in html and "Sign out" not in html
        assert client.get("/signin?next=/queue").headers["location"] == "/queue"
        for path in ("/queue", "/customers", "/rejections", "/audit"):
            assert 'id="open-banner"' in _get(client, path)


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_text_colour_pair_reaches_wcag_aa() -> None:
    css = (ROOT / "web" / "static" / "app.css").read_text()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{6})", css))
    pairs = [n[: -len("-fg")] for n in colours if n.endswith("-fg")]
    assert len(pairs) >= 10
    for name in pairs:
        fg, bg = _luminance(colours[f"{name}-fg"]), _luminance(colours[f"{name}-bg"])
        ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
        assert ratio >= 4.5, (name, round(ratio, 2))
    for name in ("text", "muted", "link"):  # on the zebra stripe and the table head too
        fg = _luminance(colours[f"{name}-fg"])
        for stripe in ("zebra", "bar-bg"):
            bg = _luminance(colours[stripe])
            ratio = (max(fg, bg) + 0.05) / (min(fg, bg) + 0.05)
            assert ratio >= 4.5, (name, stripe, round(ratio, 2))


# a real browser ------------------------------------------------------------------------------


def _not_blank(png: bytes) -> None:
    image = Image.open(BytesIO(png)).convert("L")
    assert image.width >= 800 and image.height >= 500
    assert ImageStat.Stat(image).stddev[0] > 20  # text, tables and colour, not one flat fill
    assert len(image.getcolors(maxcolors=1 << 16) or []) > 20


def _keep(png: bytes, name: str) -> None:
    """Into ``LEDGER_WEB_SCREENSHOTS`` (the README's), small: a 64-colour palette."""
    if not SHOTS:
        return
    folder = Path(SHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.open(BytesIO(png)).convert("RGB").quantize(colors=64)
    image.save(folder / f"{name}.png", optimize=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            launched.close()


class Watched:
    """A browser page whose console errors and requests are kept, to be judged."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = self.context.new_page()
        self.origin = origin
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def sign_in(self, token: str, target: str) -> None:
        self.page.goto(self.origin + target)
        assert "/signin" in self.page.url
        self.page.fill("#token", token)
        with self.page.expect_navigation():
            self.page.click("form[action='/signin'] button[type=submit]")
        assert "/signin" not in self.page.url

    def rows(self, selector: str) -> list[dict[str, str]]:
        found: list[dict[str, str]] = self.page.eval_on_selector_all(
            selector, "rows => rows.map(r => Object.assign({}, r.dataset))"
        )
        return found

    def check(self) -> None:
        assert not self.errors, self.errors
        strangers = [u for u in self.requests if not u.startswith(self.origin + "/")]
        assert self.requests and not strangers, strangers
        self.context.close()


@pytest.fixture
def watched(browser: Any, demo: Demo) -> Iterator[Watched]:
    found = Watched(browser, demo.server.url)
    yield found
    found.check()


def _dataset_board(rows: list[dict[str, str]]) -> list[tuple[Any, ...]]:
    return [
        (
            r["ticket"],
            r["timer"],
            int(r["seq"]),
            r["state"],
            _number(r["timeLeft"]),
            _number(r["overdueBy"]),
        )
        for r in rows
    ]


def test_the_board_in_a_browser_as_of_three_instants_and_the_slider(
    watched: Watched, demo: Demo
) -> None:
    page = watched.page
    watched.sign_in(demo.reader, f"/board?as_of={INSTANTS[0]}")
    for at in INSTANTS:
        if at != INSTANTS[0]:
            page.goto(f"{demo.server.url}/board?as_of={at}")
        cli = cli_json("sla", "list", "--open", "--as-of", at, db=demo.db)["timers"]
        assert _dataset_board(watched.rows("#board tbody tr[data-timer]")) == _cli_board(cli), at
        assert page.input_value("#as_of") == at
    png = page.screenshot()
    _not_blank(png)
    _keep(png, "board")
    # the slider moves the whole board (its script submits on change)
    assert page.is_hidden("form.slider button.nojs")
    target = int(page.get_attribute("#at", "max") or 0) - 10 * 86400
    with page.expect_navigation():
        page.eval_on_selector(
            "#at", "(el, v) => { el.value = v; el.dispatchEvent(new Event('change')); }", target
        )
    assert f"at={target}" in page.url
    moved = page.input_value("#as_of")
    cli = cli_json("sla", "list", "--open", "--as-of", moved, db=demo.db)["timers"]
    assert _dataset_board(watched.rows("#board tbody tr[data-timer]")) == _cli_board(cli)
    # keys: j focuses the first row's link, / the as-of field
    page.keyboard.press("j")
    assert page.evaluate("document.activeElement.closest('tr') !== null")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "as_of"
    # a link keeps the instant
    page.keyboard.press("Escape")
    with page.expect_navigation():
        page.click("#board tbody tr[data-timer] td a")
    assert "as_of=" in page.url


def test_a_ticket_page_holds_every_trail_entry(watched: Watched, demo: Demo) -> None:
    page = watched.page
    watched.sign_in(demo.reader, f"/tickets/{TICKET}?as_of={LATE}")
    shown = cli_json("ticket", "show", TICKET, "--as-of", LATE, db=demo.db)
    entries = watched.rows("#trail tbody tr[data-version]")
    assert [e["eventId"] for e in entries] == [t["event_id"] for t in shown["trail"]]
    assert [int(e["version"]) for e in entries] == [t["version"] for t in shown["trail"]]
    rejected = watched.rows("#trail tbody tr.rejected")
    assert shown["rejected"] and [int(r["rejectedId"]) for r in rejected] == [
        r["id"] for r in shown["rejected"]
    ]
    timers = watched.rows("#timers tbody tr[data-timer]")
    assert [(t["timer"], int(t["seq"]), t["state"]) for t in timers] == [
        (t["timer"], t["seq"], t["state"]) for t in shown["timers"]
    ]
    assert page.locator("svg.incident-chart").count() == 1
    assert page.locator("#escalations tbody tr").count() == len(
        cli_json("escalations", TICKET, "--as-of", LATE, db=demo.db)["steps"]
    )
    page.set_viewport_size({"width": 1280, "height": 1100})  # the chart and the state
    png = page.screenshot()
    _not_blank(png)
    _keep(png, "ticket")


def test_a_customer_page_shows_the_health_score(watched: Watched, demo: Demo) -> None:
    page = watched.page
    watched.sign_in(demo.reader, f"/customers/{CUSTOMER}?as_of={LATE}")
    health = cli_json("health", CUSTOMER, "--as-of", LATE, db=demo.db)
    assert float(page.get_attribute("#score", "data-score") or "nan") == health["score"]
    assert page.inner_text("#score") == f"{health['score']:.1f}"
    cells = "#components tr[data-component={}] td.num"
    components = {
        r["component"]: float(page.inner_text(cells.format(r["component"])))
        for r in watched.rows("#components tbody tr")
    }
    assert components == health["components"]
    assert page.locator("svg.trend polyline").count() == 1
    _not_blank(page.screenshot(full_page=True))


def test_a_scoped_reader_in_a_browser(watched: Watched, demo: Demo) -> None:
    page = watched.page
    watched.sign_in(demo.scoped, f"/board?as_of={LATE}&state=all")
    assert {r["ticket"] for r in watched.rows("#board tbody tr[data-timer]")} <= {
        t["ticket_id"]
        for t in cli_json("tickets", "--status", "all", "--customer", CUSTOMER, db=demo.db)[
            "tickets"
        ]
    }
    answer = page.goto(f"{demo.server.url}/customers/{OTHER_CUSTOMER}")
    assert answer is not None and answer.status == 404
    assert "Not found" in page.inner_text("h1")
    watched.errors = [e for e in watched.errors if "404" not in e]  # the page's own status
