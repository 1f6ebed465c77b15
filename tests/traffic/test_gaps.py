"""Contract gaps: what traffic used that the contract leaves out, and the Overlay adding it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.setup.contract import Contract, load_contract
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
    headers: list[tuple[str, str]] | None = None,
) -> Exchange:
    return Exchange(
        seq=seq,
        request=CapturedRequest(method=method, path=path, query=query or [], headers=headers or []),
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


def load_contract_from(doc: dict[str, object], folder: Path) -> Contract:
    path = folder / "openapi.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return load_contract(path)


def test_undeclared_request_headers_are_gaps_and_standard_ones_are_not(tmp_path: Path) -> None:
    contract = load_contract(CONTRACT)
    standard = [
        ("Accept", "application/json"),
        ("Content-Type", "application/json"),
        ("User-Agent", "python-httpx/0.28"),
        ("Authorization", "Bearer x"),
        ("Cookie", "session=x"),
        ("Host", "127.0.0.1"),
        ("Content-Length", "2"),
        ("Accept-Encoding", "gzip"),
        ("Connection", "keep-alive"),
        ("X-Forwarded-For", "10.0.0.1"),
        ("Sec-Fetch-Mode", "cors"),
    ]
    case = {"id": 1, "title": "t"}
    exchanges = [
        _ex(0, "GET", "/api/cases", 200, {"data": []}, headers=standard),
        _ex(1, "POST", "/api/cases", 201, case, headers=[*standard, ("Prefer", "x")]),
        _ex(2, "PATCH", "/api/cases/1", 204, None, headers=[("prefer", "return=minimal")]),
        _ex(3, "GET", "/api/cases", 200, {"data": []}, [("priority", "high")]),
    ]
    minimal = exchanges[2].answer.model_copy(update={"body": None})  # type: ignore[union-attr]
    exchanges[2] = exchanges[2].model_copy(update={"answer": minimal})
    gaps = find_gaps([Capture(Header(created=T0), exchanges)], contract, "")
    by_op = {g.operation: g for g in gaps.found()}
    assert set(by_op) == {"POST /api/cases", "PATCH /api/cases/{id}", "GET /api/cases"}
    assert by_op["POST /api/cases"].headers == {"prefer": 1}
    assert by_op["PATCH /api/cases/{id}"].headers == {"prefer": 1}
    assert by_op["PATCH /api/cases/{id}"].statuses == {204: 1}
    assert by_op["GET /api/cases"].headers == {}
    assert by_op["GET /api/cases"].params == {"priority": 1}
    assert "PATCH /api/cases/{id}\n  request headers: prefer\n  statuses: 204" in gaps.text()
    doc = json.loads(json.dumps(contract.raw))
    apply_overlay(doc, gaps.overlay(), Path("suggested.yaml"))
    for method, path in (("post", "/api/cases"), ("patch", "/api/cases/{id}")):
        params = doc["paths"][path][method]["parameters"]
        assert {
            "name": "prefer",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
        } in params
    # the suggested contract, once applied, leaves nothing out any more
    again = find_gaps(
        [Capture(Header(created=T0), exchanges)], load_contract_from(doc, tmp_path), ""
    )
    assert again.found() == []


def test_a_header_the_contract_declares_is_no_gap(tmp_path: Path) -> None:
    contract = load_contract(CONTRACT)
    doc = json.loads(json.dumps(contract.raw))
    doc["paths"]["/api/health"]["get"].setdefault("parameters", []).append(
        {"name": "X-Tenant", "in": "header", "schema": {"type": "string"}}
    )
    doc.setdefault("components", {}).setdefault("securitySchemes", {})["key"] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
    }
    health = {"status": "ok", "time": "2026-01-05T00:00:00.000Z", "database": "ok"}
    headers = [("x-tenant", "a"), ("X-API-KEY", "k"), ("X-Trace-Mode", "on")]
    cap = Capture(Header(created=T0), [_ex(0, "GET", "/api/health", 200, health, headers=headers)])
    (gap,) = find_gaps([cap], load_contract_from(doc, tmp_path), "").found()
    assert gap.headers == {"x-trace-mode": 1}
