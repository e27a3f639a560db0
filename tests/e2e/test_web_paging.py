"""The customers page comes a page at a time, and its page control reaches every customer.

In-process (the app built as ``ledger serve --no-auth`` builds it, asked through its
ASGI interface, as ``benchmarks.pages`` asks it), on a small demo quarter, three
customers a page: following "next page" from the first page lists exactly the rows of
``ledger customers --json`` for the same instants and filters (each customer's score,
trend, flags, open tickets, missed check-ins and last engagement), in its order (lowest
health first); every link of the page control keeps the instants and the filters; "last
page" and a page number past the end both show the last page.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from demo.quarter import DemoSpec, generate, quarter_end
from ledger.adapters.event_store import opened
from ledger.adapters.projector import Projector, engine_for
from ledger.adapters.settings import resolve_database
from ledger.services import answers
from ledger.services.intake import Ingestor, Input
from ledger.services.queue import CustomerQuery
from tests.conftest import FixedClock
from web import html
from web.app import create_app

SPEC = DemoSpec(seed=3, customers=7)
ROW = re.compile(r'<tr data-customer="([^"]+)" data-score="([^"]+)">(.*?)</tr>', re.S)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
BADGE = re.compile(r'class="badge s-([a-z-]+)"')
WHEN = re.compile(r'<time datetime="([^"]+)"')
LINK = re.compile(r'<a href="([^"]+)"(?: rel="\w+")?>(first|previous|next|last) page</a>')


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = Path(tmp_path_factory.mktemp("paging")) / "ledger.db"
    found = f"sqlite:///{path}"
    database = resolve_database(found)
    with opened(database) as ledger:
        clock = FixedClock(quarter_end(SPEC) + timedelta(days=1))
        Ingestor(ledger, clock=clock).ingest(Input(line.raw, "t") for line in generate(SPEC))
        engine = engine_for(database)
        Projector(ledger, engine).catch_up()
        engine.dispose()
    return found


class Client:
    """The app on the ledger at ``url``, its lifespan entered, asked one request at a time."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        app = create_app(url, auth_required=False, follow=False)
        self.lifespan = app.router.lifespan_context(app)
        self.loop.run_until_complete(self.lifespan.__aenter__())
        transport = httpx.ASGITransport(app=app)
        self.http = httpx.AsyncClient(transport=transport, base_url="http://pages")

    def get(self, path: str, params: dict[str, str] | None = None) -> httpx.Response:
        return self.loop.run_until_complete(self.http.get(path, params=params))

    def close(self) -> None:
        self.loop.run_until_complete(self.http.aclose())
        self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def client(url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.setattr(html, "CUSTOMER_ROWS", 3)
    found = Client(url)
    try:
        yield found
    finally:
        found.close()


def _links(page: str) -> dict[str, str]:
    return {name: unescape(href) for href, name in LINK.findall(page)}


Shown = tuple[str, str, str, list[str], str, str, str]
"""A row as the page shows it: customer, score, trend, flags, open tickets, missed
check-ins, last engagement (UTC, to the second)."""


def _shown(page: str) -> list[Shown]:
    found = []
    for customer, score, row in ROW.findall(page):
        cells = CELL.findall(row)
        text = [re.sub(r"<[^>]+>", "", cell).strip() for cell in cells]
        (last,) = WHEN.findall(cells[9])
        flags = BADGE.findall(cells[6])
        found.append((customer, score, text[5], flags, text[7], text[8], last))
    return found


def _expected(
    url: str, as_of: datetime, known_at: datetime | None, query: CustomerQuery
) -> list[Shown]:
    """``ledger customers --json``'s rows, as the page shows them."""
    database = resolve_database(url)
    with opened(database) as ledger:
        engine = engine_for(database)
        rows = answers.customers(ledger, engine, as_of, known_at, query)
        engine.dispose()
    return [
        (
            r["customer_id"],
            str(r["score"]),
            f"{r['trend']:+.1f}",
            [flag.replace("_", "-") for flag in r["flags"]],
            str(r["open_tickets"]),
            str(len(r["missed_check_ins"])),
            r["last_engagement_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for r in rows
    ]


@pytest.mark.parametrize(
    ("params", "query"),
    [
        ({}, CustomerQuery()),
        ({"health_below": "60"}, CustomerQuery(health_below=60.0)),
    ],
)
def test_next_page_links_reach_every_customer_in_order(
    client: Client, url: str, params: dict[str, str], query: CustomerQuery
) -> None:
    as_of = quarter_end(SPEC) - timedelta(days=3)
    known_at = quarter_end(SPEC) + timedelta(days=2)  # (after the ingest: all of it known)
    instants = {
        "as_of": as_of.isoformat().replace("+00:00", "Z"),
        "known_at": known_at.isoformat().replace("+00:00", "Z"),
    }
    expected = _expected(url, as_of, known_at, query)
    assert len(expected) > 3  # more than one page
    shown: list[Shown] = []
    answer = client.get("/customers", params={**instants, **params})
    pages = 0
    while True:
        assert answer.status_code == 200, answer.text[-1000:]
        pages += 1
        rows = _shown(answer.text)
        assert 0 < len(rows) <= 3
        shown += rows
        links = _links(answer.text)
        for link in links.values():
            kept = parse_qs(urlsplit(link).query)
            assert kept["as_of"] == [instants["as_of"]]
            assert kept["known_at"] == [instants["known_at"]]
            for name, value in params.items():
                assert kept[name] == [value]
        if "next" not in links:
            break
        answer = client.get(links["next"])
    assert shown == expected
    assert pages == -(-len(expected) // 3)
    assert f"page {pages} of {pages}" in answer.text
    first = client.get("/customers", params={**instants, **params})
    last = client.get(_links(first.text)["last"]) if pages > 2 else answer
    assert _shown(last.text) == expected[(pages - 1) * 3 :]
    past_the_end = client.get("/customers", params={**instants, **params, "page": "999"})
    assert _shown(past_the_end.text) == expected[(pages - 1) * 3 :]
