"""A gateway's results show a panel per route (mode, share, breaker and its transitions,
agreement, drops, fallbacks, latency) in the console, the HTML and headless Chromium; a run
without a gateway shows none."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from harness.compare.findings import Findings
from harness.gateway.results import RouteStats, route_panels
from harness.reporting.console import print_summary
from harness.reporting.html import render_html, write_html
from harness.reporting.results import Results
from harness.setup.gateway import GatewayConfig
from tests.reporting.test_html_browser import browser, open_page

__all__ = ["browser"]


class _State:
    """What the gateway's worker holds, filled as after a canary with a port outage."""

    def __init__(self) -> None:
        self.findings = Findings([])
        cases = RouteStats("shadow", requests=40, compared=38, agreeing=37, differing=1, raced=5)
        cases.raced_cleared = 4
        cases.latency = {"legacy": [10.0] * 30 + [40.0] * 10, "candidate": [5.0] * 38}
        self.routes = {"GET /api/cases": cases, "GET /api/alerts": RouteStats("shadow")}
        self.ops: dict[str, RouteStats] = {}
        self.started = datetime.now(UTC)
        self.failures: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.dropped = Counter({"dropped_in_flight": 3, "dropped_body": 1})
        self.route_dropped = {
            "GET /api/cases": {"dropped_in_flight": 3, "dropped_body": 1, "sampled_out": 6}
        }
        self.route_shadowed = {"GET /api/cases": {"eligible": 50, "shadowed": 40}}
        self.captured = 12
        self.gw = GatewayConfig(instance="gw1")  # one of several instances
        at = "2026-12-05T18:00:00+00:00"
        self.shift: dict[str, Any] = {
            "routes": {
                "GET /api/cases": {
                    "mode": "canary",
                    "percent": 10.0,
                    "breaker": {
                        "state": "open",
                        "history": [
                            {
                                "at": at,
                                "before": "closed",
                                "after": "open",
                                "reason": "5 consecutive failures (ConnectError)",
                            }
                        ],
                    },
                    "fallbacks": 7,
                    "ambiguous_errors": 2,
                    "served_port": 20,
                    "served_legacy": 180,
                    "schedule": "halted: too little traffic (3 of 50 comparisons)",
                }
            },
            "changes": [
                {
                    "at": at,
                    "who": "alice",
                    "why": "first step",
                    "kind": "shift",
                    "route": "GET /api/cases",
                    "before": ["shadow", 0.0],
                    "after": ["canary", 10.0],
                }
            ],
        }


def _doc(agreeing: dict[str, Any]) -> dict[str, Any]:
    panel = route_panels(_State())  # type: ignore[arg-type]
    assert panel.instances == ["gw1"]  # the instance whose results these are
    doc = {**agreeing, "gateway": panel.model_dump(mode="json")}
    Results.model_validate(doc)
    return doc


def test_route_panel_in_results_console_and_html(agreeing: dict[str, Any]) -> None:
    doc = _doc(agreeing)
    cases = next(r for r in doc["gateway"]["routes"] if r["route"] == "GET /api/cases")
    assert cases["mode"] == "canary"
    assert cases["percent"] == 10.0
    assert cases["breaker"] == "open"
    assert cases["fallbacks"] == 7
    assert cases["shadows_dropped"] == {"dropped_body": 1, "dropped_in_flight": 3, "sampled_out": 6}
    assert (cases["eligible"], cases["shadowed"]) == (50, 40)
    assert cases["latency_ms"]["legacy"]["p95"] == 40.0
    assert cases["changes"][0]["after"] == "canary 10%"
    out = io.StringIO()
    print_summary(doc, Console(file=out, width=300, color_system=None))
    text = out.getvalue()
    assert "route GET /api/cases (canary 10%): 40 of 50 shadowed (80%); 38 compared" in text
    assert "38 compared, 37 agree, 1 disagree" in text
    assert "dropped_in_flight 3" in text
    assert "7 fallbacks" in text
    assert "breaker open (1 transitions)" in text
    html = render_html(doc, {})
    assert 'id="routes"' in html
    assert "40 of 50 (80%)" in html
    assert "5 consecutive failures (ConnectError)" in html
    assert "shift by alice: shadow &rarr; canary 10% (first step)" in html


def test_no_gateway_no_panel(agreeing: dict[str, Any]) -> None:
    out = io.StringIO()
    print_summary(agreeing, Console(file=out, width=300, color_system=None))
    assert "route " not in out.getvalue()
    assert 'id="routes"' not in render_html(agreeing, {})


@pytest.mark.e2e
def test_route_panel_shows_in_chromium(
    browser: int, agreeing: dict[str, Any], tmp_path: Path
) -> None:
    path = write_html(_doc(agreeing), tmp_path / "parity.html", previous={})
    with open_page(browser, path.resolve().as_uri()) as page:
        rows = page.text(
            "[...document.querySelectorAll('#routes tr.route')].map(r => "
            "[...r.cells].map(c => c.innerText.trim()))"
        )
        assert [r[0] for r in rows] == ["GET /api/alerts", "GET /api/cases"]
        cases = rows[1]
        assert cases[1] == "canary 10%"
        assert cases[2:6] == ["40 of 50 (80%)", "38", "37", "1"]
        assert cases[9].startswith("open")
        assert page.text("document.querySelector('#routes').offsetHeight") > 50
        page.text("document.querySelector('#routes details').open = true")
        history = page.text("document.querySelector('#routes details').innerText")
        assert "closed → open" in history
        assert "halted: too little traffic" in history
