"""Contract gaps seen in traffic reach the console and the HTML report (and a run without
traffic shows no such section)."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from harness.reporting.console import print_summary
from harness.reporting.html import render_html
from harness.reporting.results import Results

GAPS = {
    "files": ["sim.jsonl"],
    "figures": {"requests": 10, "pairs_per_s": 9.5},
    "gaps": [
        {
            "operation": "GET /api/cases",
            "in_contract": True,
            "query_parameters": ["utm_source"],
            "statuses": [418],
        },
        {"operation": "GET /api/secret", "in_contract": False},
    ],
    "overlay": "traffic/overlay.yaml",
}


def _console(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    print_summary(doc, Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_gaps_are_listed_per_operation(agreeing: dict[str, Any]) -> None:
    doc = {**agreeing, "traffic": GAPS}
    Results.model_validate(doc)  # the model takes them
    text = _console(doc)
    assert "contract gap GET /api/cases: query parameters: utm_source; statuses: 418" in text
    assert "contract gap GET /api/secret: not in the contract" in text
    assert "traffic/overlay.yaml" in text
    html = render_html(doc, {})
    assert "What the contract leaves out" in html
    assert "utm_source" in html
    assert "GET /api/secret" in html


def test_no_traffic_no_gap_section(agreeing: dict[str, Any]) -> None:
    assert "contract gap" not in _console(agreeing)
    assert "What the contract leaves out" not in render_html(agreeing, {})
