"""``parity gateway merge DIR... --out DIR``: several gateway instances' results as one result
set, and their captures as one capture.

Each instance (``[gateway] instance``) wrote its own ``results.json`` and capture file. The
merge reuses ``parity merge``'s pieces (``harness.scale.merge``): findings with the same id
(one operation, location and kind; the id does not depend on the instance) are one finding
with the counts added and the first instance's example; operation summaries add their
counts; latency percentiles are weighted by requests (exact for max and mean, approximate
for percentiles, as for shards). Route panels add every count. The captures are merged in
time order (``harness.traffic.capture.merge_captures``: one header true of every record).
Results that are not a gateway's, or the same run twice, make the merged verdict ``error``.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from harness.errors import HarnessError
from harness.reporting.results import (
    Coverage,
    GatewayRoute,
    GatewaySummary,
    LatencyStats,
    NoiseEntry,
    Results,
    RunConfigInfo,
    RunError,
    Stats,
    load_results,
)
from harness.run.outcome import causes
from harness.scale.merge import (
    find_results,
    merge_findings,
    merge_latency,
    merge_operations,
    sum_dicts,
)
from harness.traffic.capture import TrafficError, merge_captures, read_capture

__all__ = ["main", "merge_gateway_dirs", "merge_gateway_results", "merge_instance_captures"]


def _error(kind: str, message: str) -> RunError:
    return RunError.model_validate({"kind": kind, "message": message})


def _name(r: Results) -> str:
    assert r.gateway is not None
    return ",".join(r.gateway.instances) or r.run_id


def _check(parts: list[Results]) -> tuple[list[Results], list[RunError]]:
    """The gateway results in start order, and what is wrong with the set."""
    errors: list[RunError] = []
    kept: dict[str, Results] = {}
    for r in parts:
        if r.gateway is None:
            errors.append(_error("input", f"run {r.run_id} is not a gateway's results; not merged"))
            continue
        if r.run_id in kept:
            errors.append(
                _error(
                    "input",
                    f"the results of {r.run_id} (instance {_name(r)}) twice; keep one "
                    "(merging them would count its traffic twice)",
                )
            )
            continue
        kept[r.run_id] = r
    return sorted(kept.values(), key=lambda r: (r.started_at, r.run_id)), errors


def _weighted(parts: list[tuple[int, LatencyStats]]) -> LatencyStats:
    merged = merge_latency(parts)
    p99s = [(n, s.p99) for n, s in parts if s.p99 is not None]
    if len(p99s) != len(parts):
        return merged
    total = sum(n for n, _ in p99s) or 1
    return merged.model_copy(update={"p99": round(sum(n * (p or 0.0) for n, p in p99s) / total, 2)})


def _merge_route(panels: list[GatewayRoute]) -> GatewayRoute:
    first = panels[0]
    counted = (
        "requests",
        "compared",
        "agreeing",
        "differing",
        "raced",
        "raced_cleared",
        "raced_unresolved",
        "shadow_failed",
        "eligible",
        "shadowed",
        "served_port",
        "served_legacy",
        "fallbacks",
        "ambiguous_errors",
    )
    sums = {key: sum(int(getattr(p, key)) for p in panels) for key in counted}
    modes = list(dict.fromkeys(p.mode for p in panels))
    latency = {
        side: _weighted([(p.requests, p.latency_ms[side]) for p in panels if side in p.latency_ms])
        for side in dict.fromkeys(s for p in panels for s in p.latency_ms)
    }
    last = max(panels, key=lambda p: max((c.at for c in p.changes), default=""))
    return first.model_copy(
        update={
            **sums,
            "mode": " / ".join(modes),  # instances configured alike show one mode
            "percent": first.percent if len(modes) == 1 else None,
            "shadows_dropped": dict(sorted(sum_dicts(p.shadows_dropped for p in panels).items())),
            "breaker": last.breaker,
            "breaker_transitions": sorted(
                (t for p in panels for t in p.breaker_transitions), key=lambda t: t.at
            ),
            "changes": sorted((c for p in panels for c in p.changes), key=lambda c: c.at)[-20:],
            "schedule": last.schedule,
            "latency_ms": latency,
        }
    )


def _merge_panels(parts: list[Results], captures: list[str]) -> GatewaySummary:
    by_route: dict[str, list[GatewayRoute]] = {}
    for r in parts:
        assert r.gateway is not None
        for panel in r.gateway.routes:
            by_route.setdefault(panel.route, []).append(panel)
    summaries = [r.gateway for r in parts if r.gateway is not None]
    return GatewaySummary(
        routes=[_merge_route(by_route[k]) for k in sorted(by_route)],
        captured=sum(g.captured for g in summaries),
        dropped=dict(sorted(sum_dicts(g.dropped for g in summaries).items())),
        instances=[_name(r) for r in parts],
        captures=captures,
    )


def _merge_noise(parts: list[Results]) -> list[NoiseEntry]:
    """Per place: cases and suppressions added, the rates weighted by cases."""
    by_place: dict[tuple[str, str, str], list[NoiseEntry]] = {}
    for r in parts:
        for n in r.noise:
            by_place.setdefault((n.operation, n.location, n.kind), []).append(n)
    out = []
    for key in sorted(by_place):
        entries = by_place[key]
        cases = sum(n.cases for n in entries)

        def rate(values: list[tuple[int, float | None]]) -> float | None:
            known = [(c, v) for c, v in values if v is not None]
            if not known:
                return None
            return round(sum(c * v for c, v in known) / (sum(c for c, _ in known) or 1), 4)

        out.append(
            entries[0].model_copy(
                update={
                    "cases": cases,
                    "aa_rate": rate([(n.cases, n.aa_rate) for n in entries]),
                    "ab_rate": rate([(n.cases, n.ab_rate) for n in entries]),
                    "suppressed": sum(n.suppressed for n in entries),
                }
            )
        )
    return out


def _empty_config() -> RunConfigInfo:
    return RunConfigInfo(
        profile="gateway", seed=0, mode="external", contract="", config="", operations=[],
        phases=["traffic"],
    )  # fmt: skip


def merge_gateway_results(
    results: list[Results],
    *,
    captures: list[str] | None = None,
    problems: list[RunError] | None = None,
) -> Results:
    """One result set from several gateway instances' ``results.json``."""
    parts, errors = _check(results)
    errors = [*(problems or []), *errors]
    findings = merge_findings(parts)
    order = sorted({op.id for r in parts for op in r.operations})
    operations = merge_operations(parts, order, findings, {})
    open_findings = [f for f in findings if not f.accepted]
    for r in parts:
        errors += [
            e.model_copy(update={"message": f"instance {_name(r)}: {e.message}"}) for e in r.errors
        ]
    if errors or not parts:
        verdict, code = "error", 2
    elif open_findings:
        verdict, code = "drift", 1
    elif operations:
        verdict, code = "agree", 0
    else:
        verdict, code = "incomplete", 2
    started = min((r.started_at for r in parts), default="")
    finished = max((r.finished_at for r in parts), default="")
    duration = 0.0
    if started and finished:
        duration = (
            datetime.fromisoformat(finished) - datetime.fromisoformat(started)
        ).total_seconds()
    first = parts[0] if parts else None
    messages = [
        f"{len(open_findings)} open findings on live traffic"
        if open_findings
        else "no open finding on live traffic",
        f"merged from {len(parts)} gateway instances: " + ", ".join(_name(r) for r in parts),
    ]
    stamp = finished.replace("-", "").replace(":", "")[:15] if finished else "empty"
    return Results(
        run_id=f"gateway-merged-{stamp}",
        verdict=verdict,
        exit_code=code,
        started_at=started,
        finished_at=finished,
        duration_s=round(duration, 3),
        interrupted=any(r.interrupted for r in parts),
        config=(
            first.config.model_copy(update={"operations": [o.id for o in operations]})
            if first
            else _empty_config()
        ),
        targets=first.targets if first else {},
        environment=first.environment if first else {},
        operations=operations,
        findings=findings,
        causes=causes(findings),
        accepted=[],
        noise=_merge_noise(parts),
        invariants=[],
        coverage=Coverage(
            operations_total=len(operations),
            operations_exercised=len(operations),
            operations_proven=sum(1 for o in operations if o.proven),
            responses_total=0,
            responses_seen=0,
        ),
        unproven=[],
        errors=errors,
        messages=messages,
        warnings=list(
            dict.fromkeys(f"instance {_name(r)}: {w}" for r in parts for w in r.warnings)
        ),
        stats=Stats.empty(
            exchanges=sum(r.stats.exchanges for r in parts),
            phase_proof={
                "gateway": sum_dicts(r.stats.phase_proof.get("gateway", {}) for r in parts)
            },
        ),
        gateway=_merge_panels(parts, captures or []),
    )


def merge_instance_captures(paths: list[Path], out: Path) -> int:
    """The instances' captures as one file at ``out`` (time order); returns the exchanges."""
    captures = [read_capture(p) for p in paths]
    merged = merge_captures(captures, str(out))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    merged.write(tmp)
    tmp.replace(out)
    return len(merged.exchanges)


def merge_gateway_dirs(
    paths: list[Path],
    out: Path,
    *,
    capture_out: Path | None = None,
    captures: list[Path] | None = None,
) -> tuple[Results, int | None]:
    """Read every instance's results under ``paths``, merge them and their captures (the
    files the results name, or ``captures``), write ``out/results.json`` and the capture
    (``capture_out``, default ``out/capture.jsonl``). Returns the results and the number of
    exchanges in the merged capture (None: no instance captured)."""
    problems: list[RunError] = []
    loaded: list[Results] = []
    files = find_results(paths)
    if not files:
        problems.append(
            _error("input", "no results.json under " + ", ".join(str(p) for p in paths))
        )
    for path in files:
        try:
            loaded.append(load_results(path))
        except HarnessError as exc:
            problems.append(_error("input", exc.message))
    if captures is None:
        named = [c for r in loaded if r.gateway is not None for c in r.gateway.captures]
        captures = [Path(c) for c in dict.fromkeys(named)]
    exchanges = None
    written: list[str] = []
    if captures:
        target = capture_out or out / "capture.jsonl"
        missing = [str(c) for c in captures if not c.is_file()]
        if missing:
            problems.append(
                _error("input", "capture not found: " + ", ".join(missing) + " (pass --capture)")
            )
        else:
            try:
                exchanges = merge_instance_captures(captures, target)
                written = [str(target.resolve())]
            except TrafficError as exc:
                problems.append(_error("input", exc.message))
    merged = merge_gateway_results(loaded, captures=written, problems=problems)
    out.mkdir(parents=True, exist_ok=True)
    merged.write(out / "results.json")
    return merged, exchanges


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parity gateway merge", description=__doc__.split("\n\n")[0])
    p.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="instances' results")
    p.add_argument("--out", type=Path, required=True, help="directory for the merged results")
    p.add_argument(
        "--capture",
        action="append",
        type=Path,
        metavar="FILE",
        help="an instance's capture (repeatable; default: the files each results.json names)",
    )
    p.add_argument(
        "--capture-out", type=Path, help="the merged capture (default: OUT/capture.jsonl)"
    )
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    results, exchanges = merge_gateway_dirs(
        args.dirs, args.out, capture_out=args.capture_out, captures=args.capture
    )
    gw = results.gateway
    assert gw is not None
    line = (
        f"merged {len(gw.instances)} gateway instances ({', '.join(gw.instances)}): "
        f"{results.verdict}, {sum(1 for f in results.findings if not f.accepted)} open "
        f"findings, {results.stats.exchanges} requests"
    )
    if exchanges is not None and gw.captures:
        line += f"; capture {gw.captures[0]}: {exchanges} exchanges"
    print(line)
    for e in results.errors:
        print(f"parity gateway merge: error: {e.message}", file=sys.stderr)
    print(f"results: {args.out / 'results.json'}")
    return int(results.exit_code)
