"""The gateway's comparisons as a ``Results`` document: one operation summary per operation
seen, findings with the real request as their example, and a panel per route
(``Results.gateway``), so ``parity report`` renders a gateway like a run."""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from harness.compare.comparison import shown_headers
from harness.compare.findings import Findings, finding_ids
from harness.compare.noise import NoiseLedger
from harness.models import ExchangeResult
from harness.reporting.results import (
    BreakerTransitionInfo,
    Coverage,
    DiffEntry,
    Example,
    Finding,
    GatewayRoute,
    GatewaySummary,
    LatencyStats,
    NoiseEntry,
    OperationSummary,
    ResponseInfo,
    Results,
    RouteChangeInfo,
    RunConfigInfo,
    Stats,
    Step,
    TargetInfo,
)
from harness.run.outcome import causes, environment, jsonable, request_info
from harness.setup.config import ParityConfig
from harness.setup.gateway import GatewayConfig

__all__ = ["GatewayState", "RouteStats", "build_results", "percentiles", "route_panels"]


@dataclass
class RouteStats:
    mode: str
    requests: int = 0
    compared: int = 0
    agreeing: int = 0
    differing: int = 0
    raced: int = 0
    raced_cleared: int = 0
    raced_unresolved: int = 0
    shadow_failed: int = 0
    latency: dict[str, list[float]] = field(default_factory=lambda: {"legacy": [], "candidate": []})
    statuses: dict[str, Counter[str]] = field(
        default_factory=lambda: {"legacy": Counter(), "candidate": Counter()}
    )


class GatewayState(Protocol):
    """What the worker has gathered (``worker.WorkerState``)."""

    config: ParityConfig
    gw: GatewayConfig
    findings: Findings
    noise: NoiseLedger
    routes: dict[str, RouteStats]
    ops: dict[str, RouteStats]
    started: datetime
    failures: Counter[str]
    errors: Counter[str]
    dropped: Counter[str]
    route_dropped: dict[str, dict[str, int]]
    route_shadowed: dict[str, dict[str, int]]
    shift: dict[str, Any] | None
    captured: int


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def _latency(stats: RouteStats, *, p99: bool = False) -> dict[str, LatencyStats]:
    out = {}
    for side, values in stats.latency.items():
        p = percentiles(values)
        out[side] = LatencyStats(
            p50=p["p50"], p95=p["p95"], max=p["max"], mean=p["mean"], p99=p["p99"] if p99 else None
        )
    return out


def _mode(mode: str, percent: float | None) -> str:
    return f"canary {percent:g}%" if mode == "canary" and percent is not None else mode


def route_panels(state: GatewayState) -> GatewaySummary:
    """A panel per route: the worker's comparisons, the serving process's drops, and for a
    shifted route its mode, share, breaker (with its transitions) and changes."""
    shift = state.shift or {}
    shifted: dict[str, Any] = shift.get("routes") or {}
    changes: dict[str, list[RouteChangeInfo]] = {}
    for c in shift.get("changes") or []:
        changes.setdefault(c["route"], []).append(
            RouteChangeInfo(
                at=str(c["at"]),
                who=c["who"],
                why=c["why"],
                kind=c["kind"],
                before=_mode(*c["before"]),
                after=_mode(*c["after"]),
            )
        )
    keys = sorted({*state.routes, *state.route_dropped, *state.route_shadowed, *shifted})
    panels = []
    for key in keys:
        s = state.routes.get(key) or RouteStats(mode="legacy")
        sh = shifted.get(key) or {}
        breaker = sh.get("breaker") or {}
        panels.append(
            GatewayRoute(
                route=key,
                mode=sh.get("mode") or s.mode,
                percent=sh.get("percent") if sh.get("mode") == "canary" else None,
                requests=s.requests,
                compared=s.compared,
                agreeing=s.agreeing,
                differing=s.differing,
                raced=s.raced,
                raced_cleared=s.raced_cleared,
                raced_unresolved=s.raced_unresolved,
                shadow_failed=s.shadow_failed,
                shadows_dropped=dict(sorted(state.route_dropped.get(key, {}).items())),
                eligible=int((state.route_shadowed.get(key) or {}).get("eligible", 0)),
                shadowed=int((state.route_shadowed.get(key) or {}).get("shadowed", 0)),
                served_port=int(sh.get("served_port", 0)),
                served_legacy=int(sh.get("served_legacy", 0)),
                fallbacks=int(sh.get("fallbacks", 0)),
                ambiguous_errors=int(sh.get("ambiguous_errors", 0)),
                breaker=breaker.get("state") if sh else None,
                breaker_transitions=[
                    BreakerTransitionInfo(**t) for t in breaker.get("history") or []
                ],
                changes=changes.get(key, [])[-20:],
                schedule=sh.get("schedule"),
                latency_ms=_latency(s, p99=True) if s.requests else {},
            )
        )
    return GatewaySummary(
        routes=panels,
        captured=state.captured,
        dropped={k: v for k, v in sorted(state.dropped.items()) if v > 0},
        instances=[state.gw.instance] if state.gw.instance else [],
        captures=[state.gw.capture] if state.gw.capture else [],
    )


def _step(state: GatewayState, ex: ExchangeResult) -> Step:
    shown = shown_headers(state.config.compare)
    return Step(
        request=request_info(ex.request, state.config),
        legacy=ResponseInfo.model_validate(jsonable(ex.legacy.to_dict(shown))),
        candidate=ResponseInfo.model_validate(jsonable(ex.candidate.to_dict(shown))),
        curl={},
    )


def build_results(state: GatewayState) -> Results:
    gw = state.gw
    findings: list[Finding] = []
    for group in state.findings.all_groups():
        ex = group.example
        # gateway ids never mapped a split kind to its older one: kept as they were
        digest = hashlib.sha1(
            "|".join(("gateway", group.operation, group.location, group.kind)).encode()
        ).hexdigest()[:8]
        cause_id, _ = finding_ids(group, "gateway")
        rule = group.accepted_by
        findings.append(
            Finding(
                id=cause_id if group.cause else f"f-{digest}",
                previous_ids=[f"f-{digest}"] if group.cause else [],
                phase="traffic",
                operation=group.operation,
                location=group.location,
                cause=group.cause or None,
                kind=group.kind,
                summary=group.difference.summary,
                count=group.count,
                accepted=rule is not None,
                accepted_reason=rule.reason if rule else None,
                accepted_expires=rule.expires.isoformat() if rule else None,
                example=Example(
                    steps=[_step(state, ex)],
                    diff=[DiffEntry(**jsonable(group.difference.to_dict()))],
                    other_diffs=[
                        DiffEntry(**jsonable(d.to_dict()))
                        for d in ex.differences
                        if d is not group.difference
                    ][:20],
                    db_writes={},
                ),
            )
        )
    operations = []
    for op_id, s in sorted(state.ops.items()):
        method, _, path = op_id.partition(" ")
        operations.append(
            OperationSummary(
                id=op_id,
                method=method,
                path=path,
                operation_id=None,
                cases=s.compared,
                agreeing=s.agreeing,
                findings=sum(1 for f in findings if f.operation == op_id and not f.accepted),
                accepted=sum(1 for f in findings if f.operation == op_id and f.accepted),
                proven=any(c.startswith("2") for c in s.statuses["candidate"])
                and any(c.startswith("2") for c in s.statuses["legacy"]),
                status_codes={k: dict(v) for k, v in s.statuses.items()},
                latency_ms=_latency(s),
            )
        )
    open_findings = [f for f in findings if not f.accepted]
    warnings = [f"the port failed {n} shadow requests: {why}" for why, n in state.failures.items()]
    warnings += [f"{n} comparisons failed: {why}" for why, n in state.errors.items()]
    if +state.dropped:
        warnings.append(
            "shadows or captures not done: "
            + ", ".join(f"{k} {v}" for k, v in sorted((+state.dropped).items()))
        )
    eligible = sum(int(c.get("eligible", 0)) for c in state.route_shadowed.values())
    shadowed = sum(int(c.get("shadowed", 0)) for c in state.route_shadowed.values())
    if eligible and shadowed < eligible:  # the coverage: sampled out, shed or dropped
        warnings.append(
            f"{shadowed} of {eligible} requests in shadow mode were shadowed "
            f"({100 * shadowed / eligible:.1f}%): the comparison covers only those "
            "(the rest by reason per route: sampled_out, shed_in_flight, shed_latency, shed_cost, "
            "dropped_*)"
        )
    verdict = "drift" if open_findings else ("agree" if operations else "incomplete")
    now = datetime.now(UTC)
    messages = [
        f"{len(open_findings)} open findings on live traffic"
        if open_findings
        else "no open finding on live traffic"
    ]
    return Results(
        run_id="gateway-"
        + (f"{gw.instance}-" if gw.instance else "")
        + state.started.strftime("%Y%m%dT%H%M%S"),
        verdict=verdict,
        exit_code=1 if open_findings else 0,
        started_at=state.started.isoformat(),
        finished_at=now.isoformat(),
        duration_s=round((now - state.started).total_seconds(), 3),
        interrupted=False,
        config=RunConfigInfo(
            profile="gateway",
            seed=0,
            mode="external",
            contract=str(state.config.contract or ""),
            config=str(state.config.source),
            operations=[o.id for o in operations],
            phases=["traffic"],
        ),
        targets={
            "legacy": TargetInfo(name="legacy", base_url=gw.legacy, command=None, git_commit=None),
            "candidate": TargetInfo(
                name="candidate", base_url=gw.candidate, command=None, git_commit=None
            ),
        },
        environment=environment(),
        operations=operations,
        findings=findings,
        causes=causes(findings),
        accepted=[],
        noise=[
            NoiseEntry(**e)
            for e in state.noise.results({op: s.compared for op, s in state.ops.items()})
        ],
        invariants=[],
        coverage=Coverage(
            operations_total=len(operations),
            operations_exercised=len(operations),
            operations_proven=sum(1 for o in operations if o.proven),
            responses_total=0,
            responses_seen=0,
        ),
        unproven=[],
        errors=[],
        messages=messages,
        warnings=warnings,
        stats=Stats.empty(
            exchanges=sum(s.requests for s in state.routes.values()),
            phase_proof={"gateway": {"captured": state.captured}},
        ),
        gateway=route_panels(state),
    )
