"""Contract gaps: what traffic used that the contract leaves out, and the Overlay adding it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.setup.contract import load_contract
from harness.setup.overlay import apply_overlay
from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    Exchange,
    Header,
    Timings,
)
from harness.traffic.gaps import find_gaps

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _ex(
    seq: int,
    method: str,
    path: str,
    status: int,
    body: object,
    query: list[tuple[str, str]] | None = None,
) -> Exchange:
    return Exchange(
        seq=seq,
        request=CapturedRequest(method=method, path=path, query=query or []),
        answer=CapturedAnswer(
            status=status,
            headers=[("content-type", "application/json")],
            body=Body(media_type="application/json", text=json.dumps(body)),
        ),
        timings=Timings(started=T0),
    )


def test_gaps_name_what_the_contract_leaves_out_and_the_overlay_adds_it() -> None:
    contract = load_contract(CONTRACT)
    health = {"status": "ok", "time": "2026-01-05T00:00:00.000Z", "database": "ok"}
    exchanges = [
        _ex(0, "GET", "/api/health", 200, health),  # as documented: no gap
        _ex(1, "GET", "/api/health", 200, {**health, "build": "abc"}, [("verbose", "1")]),
        _ex(2, "GET", "/api/health", 418, {"error": "teapot"}),
        _ex(3, "GET", "/api/cases/5/notes", 200, {"data": [{"id": 1, "text": "hi"}]}),
    ]
    cap = Capture(Header(created=T0), exchanges)
    gaps = find_gaps([cap], contract, "")
    text = gaps.text()
    assert "GET /api/health\n" in text
    assert "query parameters: verbose" in text
    assert "statuses: 418" in text
    assert "response fields: $.build" in text
    assert "GET /api/cases/{id}/notes\n  not in the contract\n  statuses: 200" in text
    overlay = gaps.overlay()
    doc = json.loads(json.dumps(contract.raw))
    apply_overlay(doc, overlay, Path("suggested.yaml"))
    health_op = doc["paths"]["/api/health"]["get"]
    assert "418" in health_op["responses"]
    assert any(p.get("name") == "verbose" for p in health_op["parameters"])
    notes = doc["paths"]["/api/cases/{id}/notes"]["get"]
    schema = notes["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["properties"]["data"]["items"]["properties"]["text"] == {"type": "string"}
    # the documented exchange alone shows nothing
    assert find_gaps([Capture(Header(created=T0), exchanges[:1])], contract, "").found() == []
