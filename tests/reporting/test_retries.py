"""Requests re-sent on a fresh connection: counted per side by the transport (every
transport of a run into the pair's one tally), carried into results.json
(``targets.<side>.retries``) and shown in the console and the HTML report when non-zero."""

from __future__ import annotations

import io
from typing import Any

import httpx
from rich.console import Console

from harness.models import PreparedRequest
from harness.pair.transport import Target, Transport
from harness.reporting.console import print_summary
from harness.reporting.html import render_html
from harness.reporting.results import Results


def _request() -> PreparedRequest:
    return PreparedRequest(
        operation="GET /items",
        method="GET",
        path="/items",
        query=(),
        headers=(),
        content=None,
        body=None,
        media_type=None,
        role=None,
        mode="positive",
    )


def test_the_transport_counts_retries_per_side() -> None:
    dropped = {"legacy": 2, "candidate": 0}  # connections dropped before an answer

    def handler(side: str) -> Any:
        def answer(request: httpx.Request) -> httpx.Response:
            if dropped[side]:
                dropped[side] -= 1
                raise httpx.RemoteProtocolError("server closed the connection")
            return httpx.Response(200, json={"ok": True})

        return answer

    tally: dict[str, int] = {}
    for _ in range(2):  # two transports of one run (a phase may open its own) share the tally
        transport = Transport(
            Target("legacy", "http://legacy.invalid"),
            Target("candidate", "http://candidate.invalid"),
            timeout_s=5,
            mounts={k: httpx.MockTransport(handler(k)) for k in dropped},
            retries=tally,
        )
        dropped["legacy"] = 1
        legacy, candidate = transport.send_pair(_request())
        transport.close()
        assert (legacy.status, candidate.status) == (200, 200)
    assert tally == {"legacy": 2}


def _console(doc: dict[str, Any]) -> str:
    out = io.StringIO()
    print_summary(doc, Console(file=out, width=200, color_system=None))
    return out.getvalue()


def test_retries_reach_the_results_console_and_report(agreeing: dict[str, Any]) -> None:
    targets = agreeing["targets"]
    doc = {
        **agreeing,
        "targets": {**targets, "candidate": {**targets["candidate"], "retries": 3}},
    }
    assert Results.model_validate(doc).targets["candidate"].retries == 3
    assert Results.model_validate(agreeing).targets["legacy"].retries == 0  # older documents
    text = _console(doc)
    assert "retries: candidate 3 request(s) re-sent on a fresh connection" in text
    assert "legacy" not in text.split("retries:", 1)[1].splitlines()[0]
    assert "3 request(s) re-sent on a fresh connection" in render_html(doc, {})
    assert "retries:" not in _console(agreeing)
    assert "re-sent on a fresh connection" not in render_html(agreeing, {})
