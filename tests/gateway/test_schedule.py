"""Promotion on evidence: advances on agreement, halts without traffic, rolls back on drift."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.gateway.schedule import (
    Evidence,
    EvidenceWindow,
    ScheduleSettings,
    evaluate,
    start,
)

S = ScheduleSettings(steps=(10, 50, 100), min_comparisons=100, min_bake_s=60, agreement=0.99)


def good(n: int = 200) -> Evidence:
    return Evidence(comparisons=n, agreements=n, port_requests=n, port_p95_ms=12, legacy_p95_ms=10)


def test_advances_through_every_step_on_an_agreeing_port() -> None:
    state, now, percents = start(0), 0.0, []
    for _ in range(3):
        held = evaluate(S, state, good(), now + 30)
        assert held.action == "hold"
        assert "baking" in held.reason
        now += 61
        verdict = evaluate(S, state, good(), now)
        state = verdict.state
        percents.append(verdict.percent)
    assert percents == [50, 100, 100]
    assert verdict.action == "done"
    assert evaluate(S, state, good(), now + 999).action == "stopped"


def test_halts_without_traffic_and_never_advances() -> None:
    verdict = evaluate(S, start(0), Evidence(comparisons=3, agreements=3), 1000)
    assert verdict.action == "halt"
    assert verdict.percent == 10
    assert "too little traffic, 3 comparisons < 100" in verdict.reason
    # the evidence arrives later: it may advance then
    assert evaluate(S, verdict.state, good(), 1001).action == "advance"


def test_holds_below_the_agreement_and_when_the_port_is_slow() -> None:
    low = Evidence(comparisons=200, agreements=197)  # 98.5% < 99%, 1.5% < 5% rollback
    assert evaluate(S, start(0), low, 100).action == "hold"
    slow = Evidence(comparisons=200, agreements=200, port_p95_ms=40, legacy_p95_ms=10)
    verdict = evaluate(S, start(0), slow, 100)
    assert verdict.action == "hold"
    assert "p95" in verdict.reason


def test_rolls_back_to_the_last_good_step_on_disagreement() -> None:
    state = evaluate(S, start(0), good(), 61).state  # now at 50, 10 was good
    drift = Evidence(comparisons=40, agreements=30, port_requests=40)
    verdict = evaluate(S, state, drift, 70)  # before the bake time: rollback does not wait
    assert verdict.action == "rollback"
    assert verdict.percent == 10
    assert "disagreement 25.0%" in verdict.reason
    assert evaluate(S, verdict.state, good(), 999).action == "stopped"


def test_rolls_back_to_shadow_from_the_first_step_on_errors_or_fallbacks() -> None:
    errors = Evidence(port_requests=50, port_errors=5)
    verdict = evaluate(S, start(0), errors, 1)
    assert (verdict.action, verdict.percent) == ("rollback", 0)
    assert "to shadow" in verdict.reason
    fallbacks = Evidence(port_requests=50, fallbacks=10)
    assert "fallback rate" in evaluate(S, start(0), fallbacks, 1).reason
    # too few samples to judge: no rollback on one error
    assert evaluate(S, start(0), Evidence(port_requests=2, port_errors=1), 1).action == "hold"


def test_evidence_window_p95_and_reset() -> None:
    window = EvidenceWindow()
    for ms in range(1, 101):
        window.served("port", float(ms))
        window.served("legacy", float(ms) / 2)
    window.served("legacy", 5, fallback=True)
    window.compared(agreed=True)
    window.compared(agreed=False)
    ev = window.evidence()
    assert (ev.port_p95_ms, ev.port_requests, ev.fallbacks) == (95.0, 101, 1)
    assert (ev.comparisons, ev.agreements) == (2, 1)
    window.reset()
    assert window.evidence() == Evidence()


def test_bad_settings() -> None:
    with pytest.raises(HarnessError, match="increasing"):
        ScheduleSettings(steps=(50, 10))
    with pytest.raises(HarnessError, match="agreement"):
        ScheduleSettings(agreement=2)
