"""The web board's pages on the ledger a harness run just built: server-side render times.

The app is built in-process (``create_app(url, auth_required=False, follow=False)``, its
lifespan run) and each page asked for through the ASGI app (``httpx.ASGITransport``):
the route, the page's questions to the ledger, the template, the response, without a
network or a browser. Every page is asked as of the end of the log (its last event plus
a day, as ``benchmarks.as_of`` asks; ``board_past``: mid-quarter, ``PAST``):

* ``board_live`` / ``board_past``: ``/board`` (its default: the open timers);
* ``board_breached``: ``/board?state=breached`` (the rows of ``sla list --breached``);
* ``queue``: ``/queue`` (the unresolved tickets, by next breach);
* ``ticket`` / ``ticket_hot``: ``/tickets/T-...``, a typical ticket (the middle ticket id
  of the ledger) and the harness's hot ticket ``T-HOT`` (its ~100 events, chart and trail);
* ``customer``: ``/customers/C-001`` (its state, tickets and 90-day health trend);
* ``customers``: ``/customers`` (every customer's health);
* ``rejections``: ``/rejections`` (the inputs rejected by then);
* ``audit``: ``/audit`` (the latest checkpoint; the log is not verified).

One warm request each, then ``runs`` requests, p50 and p99 in ms. Every response must be
200 and hold what the page is about (its heading, the ticket or customer id); the list
pages' totals (their pager's "of N") are kept, and the breached board's must equal the
rows of the same question asked in-process. ``board_past_vs_live`` is the p50 of the
past board's page over the live one's.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import time
from datetime import datetime, timedelta
from typing import Any, Final

from benchmarks.as_of import PAST

CUSTOMER: Final = "C-001"  # the hot ticket's customer (benchmarks.harness.workload)
HOT: Final = "T-HOT"
TOTAL: Final = re.compile(r'<p class="pager">\s*(?:\w+ \d+\D\d+ of (\d+)|No \w+)')


def _quantiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50_ms": cuts[49], "p99_ms": cuts[98], "runs": float(len(samples))}


def _utc(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _typical_ticket(engine: Any) -> str:
    """The middle ticket id of the ledger (the hot ticket left out)."""
    from sqlalchemy import select

    from ledger.adapters import tables

    column = tables.tickets.c.ticket_id
    with engine.connect() as conn:
        ids = sorted(str(t) for (t,) in conn.execute(select(column)) if t != HOT)
    return ids[len(ids) // 2]


def _total(html: str) -> int | None:
    """The list's total from its pager ("timers 1-250 of 1234" with an en dash; "No timers": 0)."""
    found = TOTAL.search(html)
    if found is None:
        return None
    return int(found.group(1)) if found.group(1) else 0


def page_renders(url: str, runs: int) -> dict[str, Any]:
    """Every page's render time on the ledger at ``url`` (caught up beforehand)."""
    return asyncio.run(_page_renders(url, runs))


async def _page_renders(url: str, runs: int) -> dict[str, Any]:
    import httpx

    from ledger.adapters.projector import latest_occurred
    from ledger.services import answers
    from web.app import create_app

    app = create_app(url, auth_required=False, follow=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://pages") as client,
    ):
        runtime = app.state.runtime
        latest = latest_occurred(runtime.engine)
        assert latest is not None, "an empty ledger"
        now = latest + timedelta(days=1)
        ticket = _typical_ticket(runtime.engine)
        live, past = {"as_of": _utc(now)}, {"as_of": _utc(PAST)}
        asked: dict[str, tuple[str, dict[str, str], tuple[str, ...]]] = {
            "board_live": ("/board", live, ("<h1>SLA board</h1>",)),
            "board_past": ("/board", past, ("<h1>SLA board</h1>",)),
            "board_breached": ("/board", {**live, "state": "breached"}, ("<h1>SLA board</h1>",)),
            "queue": ("/queue", live, ('id="queue"',)),
            "ticket": (f"/tickets/{ticket}", live, (f"<h1>{ticket}: ", 'id="trail"')),
            "ticket_hot": (f"/tickets/{HOT}", live, (f"<h1>{HOT}: ", 'id="trail"')),
            "customer": (
                f"/customers/{CUSTOMER}",
                live,
                (f"<h1>{CUSTOMER}: ", '<svg class="trend"'),
            ),
            "customers": ("/customers", live, ("<h1>Customers</h1>", "<tr data-customer=")),
            "rejections": ("/rejections", live, ("<h1>Rejected inputs</h1>",)),
            "audit": ("/audit", {}, ("<h1>Audit</h1>",)),
        }
        figures: dict[str, Any] = {"as_of": _utc(now), "past": _utc(PAST), "ticket_id": ticket}
        totals: dict[str, int] = {}
        for name, (path, params, expected) in asked.items():
            samples, html = [], ""
            for n in range(runs + 1):  # the first warms
                start = time.perf_counter()
                response = await client.get(path, params=params)
                elapsed = (time.perf_counter() - start) * 1000
                assert response.status_code == 200, (name, response.status_code, response.text)
                html = response.text
                missing = [text for text in expected if text not in html]
                assert not missing, (name, missing)
                if n:
                    samples.append(elapsed)
            figures[name] = {**_quantiles(samples), "bytes": float(len(response.content))}
            total = _total(html)
            if total is not None:
                totals[name] = total
        breached = answers.board(runtime.app, runtime.engine, now, None, breached=True)
        expected_breached = sum(1 for row in breached if row["customer_id"])
        assert totals["board_breached"] == expected_breached, (totals, expected_breached)
    figures["totals"] = totals
    figures["board_past_vs_live"] = (
        figures["board_past"]["p50_ms"] / figures["board_live"]["p50_ms"]
    )
    return figures


PAGES: Final = (
    "board_live",
    "board_past",
    "board_breached",
    "queue",
    "ticket",
    "ticket_hot",
    "customer",
    "customers",
    "rejections",
    "audit",
)
"""The pages measured, in the order the table shows them."""
