"""Promotion and rollback of a canary on evidence: parity's comparisons, not only error rates.

A schedule is a list of percents (``[10, 50, 100]``). A step advances only when, since it
began, at least ``min_comparisons`` comparisons were made, ``min_bake_s`` have passed, the
agreement is at or above ``agreement``, and the port's p95 is within ``p95_factor`` of the
legacy's. With too little traffic once the bake time is over it halts and says so; it never
advances on no evidence. When errors, fallbacks or disagreements pass their thresholds it
rolls back to the last good step (or to shadow before the first) and stops until someone
shifts the route again. ``evaluate`` is pure: the clock and the evidence are arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from harness.errors import HarnessError

__all__ = [
    "Evidence",
    "EvidenceWindow",
    "ScheduleSettings",
    "ScheduleState",
    "Verdict",
    "evaluate",
    "start",
]

Status = Literal["running", "halted", "done", "rolled-back"]
Action = Literal["hold", "halt", "advance", "done", "rollback", "stopped"]


@dataclass(frozen=True)
class ScheduleSettings:
    steps: tuple[float, ...] = (10.0, 50.0, 100.0)
    min_comparisons: int = 200
    min_bake_s: float = 300.0
    agreement: float = 0.99
    p95_factor: float = 1.5
    max_error_rate: float = 0.02
    max_fallback_rate: float = 0.05
    max_disagreement_rate: float = 0.05
    rollback_min_samples: int = 20

    def __post_init__(self) -> None:
        steps = list(self.steps)
        if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
            raise HarnessError(
                f"gateway schedule: steps {steps} must be increasing percents in (0, 100]"
            )
        if self.min_comparisons < 1 or self.min_bake_s < 0 or self.rollback_min_samples < 1:
            raise HarnessError(
                "gateway schedule: min_comparisons and rollback_min_samples must be >= 1, "
                "min_bake_s >= 0"
            )
        for name in ("agreement", "max_error_rate", "max_fallback_rate", "max_disagreement_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise HarnessError(f"gateway schedule: {name} must be within 0..1")
        if self.p95_factor <= 0:
            raise HarnessError("gateway schedule: p95_factor must be > 0")


@dataclass(frozen=True)
class Evidence:
    """What happened on the route since the current step began."""

    comparisons: int = 0
    agreements: int = 0
    port_requests: int = 0
    port_errors: int = 0
    fallbacks: int = 0
    port_p95_ms: float | None = None
    legacy_p95_ms: float | None = None


@dataclass(frozen=True)
class ScheduleState:
    index: int  # the current step
    step_started: float
    last_good: int = -1  # the last step whose evidence passed (-1: none, shadow)
    status: Status = "running"
    reason: str = "started"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    state: ScheduleState
    percent: float  # the route's percent after this verdict (0: back to shadow)


def start(now: float) -> ScheduleState:
    return ScheduleState(index=0, step_started=now)


def _percent(settings: ScheduleSettings, state: ScheduleState) -> float:
    if state.status == "rolled-back":
        return settings.steps[state.last_good] if state.last_good >= 0 else 0.0
    return settings.steps[state.index]


def evaluate(
    settings: ScheduleSettings, state: ScheduleState, evidence: Evidence, now: float
) -> Verdict:
    """The next move of one route's schedule."""
    if state.status in ("done", "rolled-back"):
        return Verdict("stopped", state.reason, state, _percent(settings, state))
    step = settings.steps[state.index]
    breach = _breach(settings, evidence)
    if breach is not None:
        back = settings.steps[state.last_good] if state.last_good >= 0 else 0.0
        where = f"{back:g}%" if state.last_good >= 0 else "shadow"
        reason = f"rolled back from {step:g}% to {where}: {breach}"
        new = replace(state, status="rolled-back", reason=reason, step_started=now)
        return Verdict("rollback", reason, new, back)
    baked = now - state.step_started
    if baked < settings.min_bake_s:
        reason = f"baking at {step:g}%: {baked:.0f}/{settings.min_bake_s:g} s"
        return Verdict("hold", reason, replace(state, reason=reason), step)
    if evidence.comparisons < settings.min_comparisons:
        reason = (
            f"halted at {step:g}%: too little traffic, {evidence.comparisons} comparisons "
            f"< {settings.min_comparisons} after {baked:.0f} s; not advancing without evidence"
        )
        return Verdict("halt", reason, replace(state, status="halted", reason=reason), step)
    agreement = evidence.agreements / evidence.comparisons
    if agreement < settings.agreement:
        reason = (
            f"holding at {step:g}%: agreement {agreement:.2%} < {settings.agreement:.2%} "
            f"over {evidence.comparisons} comparisons"
        )
        return Verdict("hold", reason, replace(state, status="running", reason=reason), step)
    slow = _too_slow(settings, evidence)
    if slow is not None:
        reason = f"holding at {step:g}%: {slow}"
        return Verdict("hold", reason, replace(state, status="running", reason=reason), step)
    proof = f"{agreement:.2%} agreement over {evidence.comparisons} comparisons in {baked:.0f} s"
    if state.index + 1 >= len(settings.steps):
        reason = f"done at {step:g}%: {proof}"
        new = replace(state, status="done", last_good=state.index, reason=reason)
        return Verdict("done", reason, new, step)
    nxt = settings.steps[state.index + 1]
    reason = f"advanced {step:g}% -> {nxt:g}%: {proof}"
    new = ScheduleState(
        index=state.index + 1, step_started=now, last_good=state.index, reason=reason
    )
    return Verdict("advance", reason, new, nxt)


def _breach(settings: ScheduleSettings, ev: Evidence) -> str | None:
    if ev.port_requests >= settings.rollback_min_samples:
        rate = ev.port_errors / ev.port_requests
        if rate > settings.max_error_rate:
            return f"port error rate {rate:.1%} > {settings.max_error_rate:.1%}"
        rate = ev.fallbacks / ev.port_requests
        if rate > settings.max_fallback_rate:
            return f"fallback rate {rate:.1%} > {settings.max_fallback_rate:.1%}"
    if ev.comparisons >= settings.rollback_min_samples:
        rate = 1 - ev.agreements / ev.comparisons
        if rate > settings.max_disagreement_rate:
            return (
                f"disagreement {rate:.1%} > {settings.max_disagreement_rate:.1%} "
                f"over {ev.comparisons} comparisons"
            )
    return None


def _too_slow(settings: ScheduleSettings, ev: Evidence) -> str | None:
    if ev.port_p95_ms is None or ev.legacy_p95_ms is None:
        return None
    limit = ev.legacy_p95_ms * settings.p95_factor
    if ev.port_p95_ms > limit:
        return (
            f"port p95 {ev.port_p95_ms:.1f} ms > {settings.p95_factor:g} x legacy p95 "
            f"{ev.legacy_p95_ms:.1f} ms"
        )
    return None


@dataclass
class EvidenceWindow:
    """Counts and latencies since the step began (the app feeds it; reset on a transition)."""

    max_samples: int = 10_000
    comparisons: int = 0
    agreements: int = 0
    port_requests: int = 0
    port_errors: int = 0
    fallbacks: int = 0
    port_ms: list[float] = field(default_factory=list)
    legacy_ms: list[float] = field(default_factory=list)

    def compared(self, *, agreed: bool) -> None:
        self.comparisons += 1
        self.agreements += agreed

    def served(self, side: str, ms: float, *, error: bool = False, fallback: bool = False) -> None:
        samples = self.port_ms if side == "port" else self.legacy_ms
        if len(samples) < self.max_samples:
            samples.append(ms)
        if side == "port" or fallback:
            self.port_requests += 1
            self.port_errors += error
            self.fallbacks += fallback

    def evidence(self) -> Evidence:
        return Evidence(
            comparisons=self.comparisons,
            agreements=self.agreements,
            port_requests=self.port_requests,
            port_errors=self.port_errors,
            fallbacks=self.fallbacks,
            port_p95_ms=_p95(self.port_ms),
            legacy_p95_ms=_p95(self.legacy_ms),
        )

    def reset(self) -> None:
        self.comparisons = self.agreements = self.port_requests = 0
        self.port_errors = self.fallbacks = 0
        self.port_ms = []
        self.legacy_ms = []


def _p95(samples: list[float]) -> float | None:
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
