"""The contract-gap list on the simulator's capture of a real legacy names what the legacy
does that the contract leaves out (issue 29): the undocumented ``priority`` filter of the
case list, and ``Prefer: return=minimal`` on a case's create and update (a 204 the contract
does not list, a request header it does not declare)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.setup.contract import load_contract
from harness.setup.overlay import apply_overlay
from harness.traffic.capture import read_capture
from harness.traffic.gaps import find_gaps
from tests.servers import legacy_built
from tests.traffic.simulate import capture

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"


def test_the_gap_list_of_simulated_traffic_names_what_the_legacy_plants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    out = tmp_path / "sim.jsonl"
    assert capture(out, seed_n=7, requests=300) == 0
    cap = read_capture(out)
    assert len(cap.exchanges) >= 300
    # the planted behaviours are used, at a low rate, and answered as the legacy answers them
    minimal = [
        ex for ex in cap.exchanges if any(k.lower() == "prefer" for k, _ in ex.request.headers)
    ]
    assert minimal
    assert len(minimal) < len(cap.exchanges) * 0.05
    assert all(
        ex.answer is not None and ex.answer.status in (204, 400, 403, 404, 409) for ex in minimal
    )
    contract = load_contract(CONTRACT)
    gaps = find_gaps([cap], contract, "")
    by_op = {g.operation: g for g in gaps.found()}
    listed = by_op["GET /api/cases"]
    assert "priority" in listed.params
    assert not listed.headers
    for op in ("POST /api/cases", "PATCH /api/cases/{id}"):
        if op in by_op and by_op[op].headers:
            assert set(by_op[op].headers) == {"prefer"}
    with_prefer = [op for op in ("POST /api/cases", "PATCH /api/cases/{id}") if op in by_op]
    assert any(204 in by_op[op].statuses for op in with_prefer)
    assert any("prefer" in by_op[op].headers for op in with_prefer)
    text = gaps.text()
    assert "query parameters: priority" in text
    assert "request headers: prefer" in text
    assert "statuses: 204" in text
    # nothing but what was planted: no other operation, parameter, header or status
    assert all(g.known for g in gaps.found()), text
    assert {n for g in gaps.found() for n in g.params} == {"priority"}, text
    assert {n for g in gaps.found() for n in g.headers} == {"prefer"}, text
    assert {s for g in gaps.found() for s in g.statuses} == {204}, text
    # the suggested Overlay makes the contract say it
    doc = yaml.safe_load(CONTRACT.read_text(encoding="utf-8"))
    apply_overlay(doc, gaps.overlay(), tmp_path / "overlay.yaml")
    names = {p["name"] for p in doc["paths"]["/api/cases"]["get"]["parameters"] if "name" in p}
    assert "priority" in names
