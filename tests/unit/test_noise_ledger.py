"""The A/A ledger on exchanges without a twin (a write kept for a sequence or growth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cases.generation import build_request
from harness.compare.findings import Findings
from harness.compare.noise import NoiseLedger
from harness.models import Difference, ExchangeResult, Response

pytestmark = pytest.mark.unit


def _diff(location: str, kind: str = "value") -> Difference:
    return Difference(location, kind, location, "a", "b", f"{location}: a vs b")


def _exchange(diffs: list[Difference]) -> ExchangeResult:
    req = build_request(
        operation="POST /items",
        method="POST",
        path="/items",
        query=(),
        headers=(),
        role="admin",
        mode="positive",
        json_body={"name": "x"},
    )
    answer = Response(201, (), {}, "{}", 1.0)
    return ExchangeResult(req, answer, answer, None, None, diffs)


def test_a_place_that_differed_aa_is_dropped_without_a_twin_and_nothing_else() -> None:
    ledger = NoiseLedger()
    request_id, price = _diff("body:$.requestId"), _diff("body:$.price")
    assert ledger.suppress("POST /items", [request_id, price], [request_id]) == [price]
    # later, a write kept for a sequence: no twin to ask
    assert ledger.suppress_known("POST /items", [request_id, price]) == [price]
    # the same place of another operation never varied A/A: kept
    assert ledger.suppress_known("PATCH /items/{id}", [request_id]) == [request_id]
    entry = ledger.entries[("POST /items", "body:$.requestId", "value")]
    assert entry["suppressed"] == 2


def test_a_place_seen_only_a_b_is_not_noise() -> None:
    ledger = NoiseLedger()
    price = _diff("body:$.price")
    assert ledger.suppress("POST /items", [price], []) == [price]
    assert ledger.suppress_known("POST /items", [price]) == [price]


def test_a_saved_calibration_drops_a_sequence_step_at_a_place_it_saw_vary(
    tmp_path: Path,
) -> None:
    saved = tmp_path / "noise.json"
    noisy = {"operation": "POST /items", "location": "body:$.requestId", "kind": "value"}
    saved.write_text(json.dumps({"noise": [{**noisy, "aa_rate": 0.4, "evidence": "x"}]}))
    findings = Findings([])
    for phase in ("stateful", "growth"):
        result = _exchange([_diff("body:$.requestId"), _diff("body:$.price")])
        fresh = findings.fresh_sequence_keys(result, phase)
        findings.add_sequence(fresh, [result], phase=phase)
    assert len(findings.stateful) == len(findings.grown) == 2  # apart, one per phase
    NoiseLedger().apply_saved(saved, findings, {"POST /items": 10})
    assert [k[1] for k in findings.stateful] == [k[1] for k in findings.grown] == ["body:$.price"]
