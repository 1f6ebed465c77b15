"""``parity merge``: the ``results.json`` of a run's shards, read back as one run.

Findings with the same id (one operation, location and kind) are one finding: counts add
and the example of the lowest shard is kept. The gate and the coverage are decided again
over the whole run from each shard's evidence (a sequence on one shard can prove an
operation of another). A shard missing, twice, planned differently or in error makes the
merged verdict ``error``: a merge never says ``agree`` about work nobody saw.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.compare.findings import body_shape
from harness.errors import HarnessError
from harness.reporting.results import (
    AcceptedInput,
    AcceptedRule,
    ContractGap,
    Coverage,
    Finding,
    InvariantResult,
    LatencyStats,
    NoiseEntry,
    OperationSummary,
    PhaseProof,
    ResponseReached,
    Results,
    RunConfigInfo,
    RunError,
    ShardRun,
    Stats,
    TrafficSummary,
    Unproven,
    load_results,
)
from harness.run.engine import new_run_id
from harness.run.outcome import causes, now

__all__ = [
    "find_results",
    "fold_causes",
    "merge_dirs",
    "merge_findings",
    "merge_latency",
    "merge_operations",
    "merge_results",
    "sum_dicts",
]

READBACK_PHASE = "readback"
SEQUENCE_PHASES = frozenset({"stateful", "interop", "realtime", "invariants", READBACK_PHASE})
"""Findings not from the single requests' groups (``Findings.groups``)."""


def find_results(paths: Iterable[Path]) -> list[Path]:
    """Each ``results.json`` under the given files or folders (a downloaded artifact holds
    a run folder somewhere inside); ``latest`` copies are skipped."""
    out: list[Path] = []
    for path in paths:
        if path.is_file():
            out.append(path)
            continue
        if (path / "results.json").is_file():
            out.append(path / "results.json")
            continue
        for hit in sorted(path.rglob("results.json")):
            rel = hit.relative_to(path).parts
            if any(p == "latest" or p.startswith(".") for p in rel[:-1]):
                continue
            out.append(hit)
    seen: set[Path] = set()
    unique = []
    for p in out:
        if p.resolve() not in seen:
            seen.add(p.resolve())
            unique.append(p)
    return unique


def _error(kind: str, message: str) -> RunError:
    return RunError.model_validate({"kind": kind, "message": message})


def _empty(run_id: str, errors: list[RunError]) -> Results:
    """Nothing to merge: an error document, never a verdict about work nobody saw."""
    stamp = now()
    return Results(
        run_id=run_id,
        verdict="error",
        exit_code=2,
        started_at=stamp,
        finished_at=stamp,
        duration_s=0.0,
        interrupted=False,
        config=RunConfigInfo(
            profile="", seed=0, mode="managed", contract="", config="", operations=[], phases=[]
        ),
        targets={},
        environment={},
        operations=[],
        findings=[],
        causes=[],
        accepted=[],
        noise=[],
        invariants=[],
        coverage=Coverage(
            operations_total=0,
            operations_exercised=0,
            operations_proven=0,
            responses_total=0,
            responses_seen=0,
        ),
        unproven=[],
        errors=errors,
        messages=[],
        warnings=[],
        stats=Stats.empty(),
    )


def _check(shards: list[Results]) -> tuple[list[Results], list[RunError]]:
    """The shards in index order, and what is wrong with the set."""
    errors: list[RunError] = []
    plain = [r for r in shards if r.shard is None]
    for r in plain:
        errors.append(
            _error("input", f"run {r.run_id} is not a shard (run with --shard i/n); not merged")
        )
    sharded = [r for r in shards if r.shard is not None]
    if not sharded:
        return [], errors or [_error("input", "no shard results to merge")]
    first = sharded[0]
    assert first.shard is not None
    count = first.shard.count
    by_index: dict[int, Results] = {}
    for r in sharded:
        assert r.shard is not None
        same = (
            r.shard.count == count
            and r.shard.plan == first.shard.plan
            and r.config.seed == first.config.seed
            and r.config.profile == first.config.profile
        )
        if not same:
            errors.append(
                _error(
                    "input",
                    f"shard {r.shard.index}/{r.shard.count} (run {r.run_id}) belongs to another "
                    f"run: plan {r.shard.plan or '?'}, seed {r.config.seed}, profile "
                    f"{r.config.profile!r} against plan {first.shard.plan or '?'}, seed "
                    f"{first.config.seed}, profile {first.config.profile!r}",
                )
            )
            continue
        if r.shard.index in by_index:
            errors.append(
                _error(
                    "input",
                    f"shard {r.shard.index}/{count} twice (runs {by_index[r.shard.index].run_id} "
                    f"and {r.run_id}); keep one",
                )
            )
            continue
        by_index[r.shard.index] = r
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        errors.append(
            _error(
                "incomplete",
                f"{len(missing)} of {count} shards missing ("
                + ", ".join(f"{i}/{count}" for i in missing)
                + "): their operations were not tested",
            )
        )
    return [by_index[i] for i in sorted(by_index)], errors


def merge_findings(shards: list[Results]) -> list[Finding]:
    merged: dict[str, Finding] = {}
    for r in shards:
        for f in r.findings:
            hit = merged.get(f.id)
            if hit is None:
                merged[f.id] = f.model_copy(deep=True)
            else:
                hit.count += f.count
                places = {(p.location, p.kind, p.cause): p for p in hit.locations}
                for place in f.locations:
                    known = places.get((place.location, place.kind, place.cause))
                    if known is None:
                        hit.locations.append(place.model_copy())
                    else:
                        known.count += place.count
    # a read after a write that a single request showed too is that finding, as in one run
    # (harness.compare.findings.Findings.add_readback): a shard without it kept it
    elsewhere = {
        (f.operation, place.location, place.kind, place.cause)
        for f in merged.values()
        if f.phase not in SEQUENCE_PHASES
        for place in f.locations
    }
    kept = [
        f
        for f in merged.values()
        if f.phase != READBACK_PHASE or (f.operation, f.location, f.kind, f.cause) not in elsewhere
    ]
    folded = fold_causes(kept)
    return sorted(
        folded, key=lambda f: (f.accepted, f.operation, f.location, f.kind, f.cause or "")
    )


_PHASE_RANK = {
    "contract": 0,
    "stateful": 2,
    "interop": 3,
    "realtime": 4,
    READBACK_PHASE: 5,
    "traffic": 6,
}


def _shapes(f: Finding) -> str:
    """A status finding's cause (its body shapes, for a results file written before)."""
    if f.cause:
        return f.cause
    step = f.example.steps[-1] if f.example.steps else None
    if step is None:
        return ""
    return f"{body_shape(step.legacy.body)} -> {body_shape(step.candidate.body)}"


def fold_causes(findings: list[Finding]) -> list[Finding]:
    """What one run folds into one finding, folded again across shards: the same
    (operation, location, kind) from several phases, and a probe route's status pair with
    the cause of a real case's (``Findings.together`` in one run); a place is a status
    pair's with its cause, as a group's key is."""
    out: list[Finding] = []
    by_place: dict[tuple[str, str, str, str | None], Finding] = {}
    real: dict[tuple[str, str, str], Finding] = {}
    ranked = sorted(findings, key=lambda f: (_PHASE_RANK.get(f.phase, 1), f.phase == "probes"))
    for f in ranked:
        # every place a finding holds, not only its head: one run joins a group to the
        # finding whose request showed the same place beside another (its head elsewhere)
        places = [(f.operation, f.location, f.kind, f.cause)] + [
            (loc.operation or f.operation, loc.location, loc.kind, loc.cause) for loc in f.locations
        ]
        head = None
        if not f.accepted:
            head = next((by_place[p] for p in places if p in by_place), None)
        if head is None and not f.accepted and f.phase == "probes" and f.kind == "status":
            head = real.get((f.location, f.kind, _shapes(f)))
        if not f.accepted:
            for p in places:
                by_place.setdefault(p, head or f)
        if head is None:
            out.append(f)
            if not f.accepted and f.phase != "probes":
                real.setdefault((f.location, f.kind, _shapes(f)), f)
            continue
        head.count = max(head.count, f.count)
        head.phases = sorted({head.phase, *head.phases, f.phase, *f.phases})
        for loc in f.locations:
            head.locations.append(
                loc.model_copy(
                    update={
                        "operation": loc.operation
                        or (f.operation if f.operation != head.operation else None),
                        "phase": loc.phase or (f.phase if f.phase != head.phase else None),
                    }
                )
            )
    return out


def merge_latency(parts: list[tuple[int, LatencyStats]]) -> LatencyStats:
    """Percentiles cannot be merged exactly: weighted by cases (exact when one shard ran the
    operation, as for every operation but the probes); max and mean are exact."""
    total = sum(n for n, _ in parts) or 1
    means = [(n, s.mean) for n, s in parts if s.mean is not None]
    return LatencyStats(
        p50=round(sum(n * s.p50 for n, s in parts) / total, 2),
        p95=round(sum(n * s.p95 for n, s in parts) / total, 2),
        max=max(s.max for _, s in parts),
        mean=round(sum(n * (m or 0.0) for n, m in means) / total, 2)
        if len(means) == len(parts)
        else None,
    )


def merge_operations(
    shards: list[Results], order: list[str], findings: list[Finding], proven: dict[str, bool]
) -> list[OperationSummary]:
    parts: dict[str, list[OperationSummary]] = {}
    for r in shards:
        for op in r.operations:
            parts.setdefault(op.id, []).append(op)
    rank = {op_id: i for i, op_id in enumerate(order)}
    out: list[OperationSummary] = []
    for op_id in sorted(parts, key=lambda k: (k not in rank, rank.get(k, 0))):
        ops = parts[op_id]
        first = ops[0]
        codes: dict[str, Counter[str]] = {}
        for op in ops:
            for side, counts in op.status_codes.items():
                codes.setdefault(side, Counter()).update(counts)
        latency = {
            side: merge_latency(
                [(op.cases, op.latency_ms[side]) for op in ops if side in op.latency_ms]
            )
            for side in first.latency_ms
        }
        mine = [f for f in findings if f.operation == op_id]
        out.append(
            OperationSummary(
                id=op_id,
                method=first.method,
                path=first.path,
                operation_id=first.operation_id,
                cases=sum(op.cases for op in ops),
                agreeing=sum(op.agreeing for op in ops),
                findings=sum(1 for f in mine if not f.accepted),
                accepted=sum(1 for f in mine if f.accepted),
                proven=proven.get(op_id, any(op.proven for op in ops)),
                row_states=sorted({s for op in ops for s in op.row_states}),
                status_codes={k: dict(sorted(v.items())) for k, v in codes.items()},
                latency_ms=latency,
                responses=_merge_responses(ops),
            )
        )
    return out


def _merge_responses(ops: list[OperationSummary]) -> list[ResponseReached]:
    merged: dict[str, ResponseReached] = {}
    for op in ops:
        for r in op.responses:
            had = merged.get(r.status)
            merged[r.status] = (
                r
                if had is None
                else had.model_copy(
                    update={
                        "documented": had.documented or r.documented,
                        "legacy": had.legacy + r.legacy,
                        "candidate": had.candidate + r.candidate,
                        "both": had.both + r.both,
                        "phases": sorted({*had.phases, *r.phases}),
                    }
                )
            )
    return [merged[k] for k in sorted(merged)]


def _merge_invariants(shards: list[Results]) -> list[InvariantResult]:
    """Broken ones by (name, target) with counts added; an invariant no shard broke holds
    with the checks added, or is "not checked" when no shard reached it."""
    broken: dict[tuple[str, str | None], InvariantResult] = {}
    held: dict[str, InvariantResult] = {}
    order: list[str] = []
    for r in shards:
        for inv in r.invariants:
            if inv.name not in order:
                order.append(inv.name)
            if not inv.passed:
                key = (inv.name, inv.target)
                hit = broken.get(key)
                if hit is None:
                    broken[key] = inv.model_copy(deep=True)
                else:
                    hit.count = (hit.count or 0) + (inv.count or 0)
                continue
            prev = held.get(inv.name)
            if prev is None or (prev.skipped and not inv.skipped):
                held[inv.name] = inv.model_copy(deep=True)
                if prev is not None and prev.checks:
                    held[inv.name].checks = (inv.checks or 0) + prev.checks
            elif not inv.skipped:
                prev.checks = (prev.checks or 0) + (inv.checks or 0)
    names_broken = {name for name, _ in broken}
    out = list(broken.values())
    out += [held[n] for n in order if n in held and n not in names_broken and not held[n].skipped]
    out += [held[n] for n in order if n in held and n not in names_broken and held[n].skipped]
    return out


def _merge_accepted(shards: list[Results]) -> list[AcceptedRule]:
    out: list[AcceptedRule] = [a.model_copy() for a in shards[0].accepted]
    for r in shards[1:]:
        for mine, theirs in zip(out, r.accepted, strict=False):
            if (mine.operation, mine.location, mine.kind) == (
                theirs.operation,
                theirs.location,
                theirs.kind,
            ):
                mine.matched += theirs.matched
    return out


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def sum_dicts(dicts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    keys: list[str] = []
    for d in dicts:
        total.update(d)
        keys += list(d)
    return {k: total[k] for k in _unique(keys)}


def merge_results(
    shards: list[Results],
    *,
    run_id: str | None = None,
    duration_s: float | None = None,
    problems: list[RunError] | None = None,
) -> Results:
    """One run from its shards' results. ``duration_s``: the wall clock of the whole (by
    default the slowest shard's, as for parallel CI jobs)."""
    run_id = run_id or new_run_id()
    ordered, errors = _check(shards)
    errors = [*(problems or []), *errors]
    if not ordered:
        return _empty(run_id, errors)
    first = ordered[0]
    assert first.shard is not None
    count = first.shard.count
    interrupted = False
    for r in ordered:
        assert r.shard is not None
        interrupted |= r.interrupted
        for e in r.errors:
            errors.append(
                e.model_copy(update={"message": f"shard {r.shard.index}/{count}: {e.message}"})
            )
        if r.verdict == "error" and not r.errors:
            errors.append(_error("incomplete", f"shard {r.shard.index}/{count} ended in error"))
    selected = list(first.shard.selected)
    evidence: dict[str, list[tuple[bool, list[str], list[str]]]] = {}
    for r in ordered:
        assert r.shard is not None
        for op_id, ev in r.shard.evidence.items():
            evidence.setdefault(op_id, []).append((ev.proven, ev.codes, ev.documented))
    proven = {op_id: any(p for p, _, _ in evs) for op_id, evs in evidence.items()}
    findings = merge_findings(ordered)
    operations = merge_operations(ordered, selected, findings, proven)

    # the gate, over the whole run: unproven unless some shard proved it
    unproven: list[Unproven] = []
    owner: dict[str, Unproven] = {}
    for r in ordered:
        for u in r.unproven:
            owner.setdefault(u.operation, u)
    for op_id in selected:
        if proven.get(op_id):
            continue
        if op_id in owner:
            unproven.append(owner[op_id])
        elif op_id in evidence:
            unproven.append(Unproven(operation=op_id, allowed=False, reason="no case was sent"))
    responses_total = responses_seen = 0
    for op_id in selected:
        evs = evidence.get(op_id)
        if not evs:
            continue
        documented = evs[0][2]
        codes = {c for _, cs, _ in evs for c in cs}
        responses_total += len(documented)
        responses_seen += sum(
            1
            for s in documented
            if s in codes or (s.upper().endswith("XX") and any(c[0] == s[0] for c in codes))
        )
    reached = {op.id: [r for r in op.responses if r.both] for op in operations}
    responses_seen_both = 0
    for op_id in selected:
        evs = evidence.get(op_id)
        if evs:
            responses_seen_both += sum(
                1
                for s in evs[0][2]
                if any(
                    r.status == s or (s.upper().endswith("XX") and r.status[:1] == s[:1])
                    for r in reached.get(op_id, [])
                )
            )
    # every operation a shard sent cases to: growth creates through one outside the selection
    exercised = sum(1 for op in operations if op.cases and op.method != "*")  # not probes
    coverage = Coverage(
        operations_total=first.coverage.operations_total,
        operations_exercised=exercised,
        operations_proven=sum(1 for op_id in selected if proven.get(op_id)),
        responses_total=responses_total,
        responses_seen=responses_seen,
        responses_seen_both=responses_seen_both,
    )

    accepted = _merge_accepted(ordered)
    expired = [a for a in accepted if a.expired]
    require_proof = first.shard.require_proof
    missing = [u.operation for u in unproven if not u.allowed] if require_proof else []
    drift = any(not f.accepted for f in findings) or bool(expired)
    stats = _merge_stats(ordered)
    blind = _unproven_phases(stats.phase_proof)
    if errors or interrupted:
        verdict, code = "error", 2
    elif drift:
        verdict, code = "drift", 1
    elif missing or blind:
        verdict, code = "incomplete", 2
    else:
        verdict, code = "agree", 0
    messages: list[str] = []
    if missing and not errors and not interrupted:
        messages.append("nothing was proven for: " + ", ".join(missing))
    if not errors and not interrupted:
        messages += [f"phase {p.phase} proved nothing: {p.reason}" for p in blind]
    messages += _unique(
        m
        for r in ordered
        for m in r.messages
        if not m.startswith(("nothing was proven for", "phase "))
    )
    noise = sorted(
        (n for r in ordered for n in r.noise),
        key=lambda n: (n.operation, n.location, n.kind),
    )
    started = min(r.started_at for r in ordered)
    finished = max(r.finished_at for r in ordered)
    return Results(
        run_id=run_id,
        verdict=verdict,
        exit_code=code,
        started_at=started,
        finished_at=finished,
        duration_s=round(
            duration_s if duration_s is not None else max(r.duration_s for r in ordered), 2
        ),
        interrupted=interrupted,
        config=first.config.model_copy(update={"operations": selected}),
        targets=first.targets,
        environment=first.environment,
        operations=operations,
        findings=findings,
        causes=causes(findings),
        accepted=accepted,
        noise=[NoiseEntry.model_validate(n.model_dump()) for n in noise],
        invariants=_merge_invariants(ordered),
        coverage=coverage,
        unproven=unproven,
        unproven_phases=blind,
        accepted_inputs=_merge_accepted_inputs(ordered),
        errors=errors,
        messages=messages,
        warnings=_unique(w for r in ordered for w in r.warnings),
        stats=stats,
        traffic=_merge_traffic(ordered),
    )


def _merge_traffic(shards: list[Results]) -> TrafficSummary | None:
    """``--traffic`` shards: the figures added (rates recomputed), the contract gaps joined
    per operation (each shard saw part of the traffic)."""
    parts = [r.traffic for r in shards if r.traffic is not None]
    if not parts:
        return None
    figures: dict[str, float | int] = {}
    for part in parts:
        for key, value in part.figures.items():
            if key == "time_shift_s":
                figures[key] = value
            elif key != "pairs_per_s":
                figures[key] = figures.get(key, 0) + value
    seconds = max((float(p.figures.get("seconds", 0)) for p in parts), default=0.0)
    figures["seconds"] = round(seconds, 3)  # the shards ran side by side
    figures["pairs_per_s"] = round(figures.get("requests", 0) / seconds, 1) if seconds else 0.0
    gaps: dict[str, dict[str, Any]] = {}
    for part in parts:
        for gap in part.gaps:
            had = gaps.setdefault(gap.operation, {"operation": gap.operation})
            had["in_contract"] = had.get("in_contract", True) and gap.in_contract
            for key, value in gap.model_dump().items():
                if isinstance(value, list):
                    had[key] = sorted({*had.get(key, []), *value})
    return TrafficSummary(
        files=_unique(f for p in parts for f in p.files),
        figures=figures,
        gaps=[ContractGap.model_validate(g) for g in gaps.values()],
        overlay=next((p.overlay for p in parts if p.overlay), None),
    )


def _merge_accepted_inputs(shards: list[Results]) -> list[AcceptedInput]:
    """Per operation: the shards' counts added, the first shard's example."""
    out: dict[str, AcceptedInput] = {}
    for r in shards:
        for a in r.accepted_inputs:
            had = out.get(a.operation)
            out[a.operation] = (
                a.model_copy()
                if had is None
                else had.model_copy(update={"count": had.count + a.count})
            )
    return [out[k] for k in sorted(out)]


def _merge_stats(shards: list[Results]) -> Stats:
    gen_errors = [e for r in shards for e in r.stats.generation_errors]
    timings: Counter[str] = Counter()
    for r in shards:
        timings.update(r.stats.timings_s)
    runs = []
    for r in shards:
        assert r.shard is not None
        runs.append(
            ShardRun(
                index=r.shard.index,
                run_id=r.run_id,
                verdict=r.verdict,
                duration_s=r.duration_s,
                exchanges=r.stats.exchanges,
                cost=r.shard.cost,
                timings_s=r.stats.timings_s,
            )
        )
    return Stats(
        exchanges=sum(r.stats.exchanges for r in shards),
        cases_drawn=sum(r.stats.cases_drawn for r in shards),
        duplicates_dropped=sum(r.stats.duplicates_dropped for r in shards),
        unencodable_dropped=sum(r.stats.unencodable_dropped for r in shards),
        generation_errors=gen_errors[:50],
        generation_errors_by_type=sum_dicts(r.stats.generation_errors_by_type for r in shards),
        restores=sum(r.stats.restores for r in shards),
        resets=sum(r.stats.resets for r in shards),
        case_cache_hits=sum(r.stats.case_cache_hits for r in shards),
        timings_s={k: round(v, 3) for k, v in timings.items()},
        invariant_findings=any(r.stats.invariant_findings for r in shards),
        stateful=sum_dicts(r.stats.stateful for r in shards),
        interop=sum_dicts(r.stats.interop for r in shards),
        realtime=sum_dicts(r.stats.realtime for r in shards),
        phase_proof={
            phase: sum_dicts(r.stats.phase_proof.get(phase, {}) for r in shards)
            for phase in sorted({p for r in shards for p in r.stats.phase_proof})
        },
        notes=_unique(n for r in shards for n in r.stats.notes),
        shards=runs,
    )


def _unproven_phases(proof: dict[str, dict[str, int]]) -> list[PhaseProof]:
    """Proof per phase over every shard's requests (see ``RunStats.unproven_phases``)."""
    from harness.run.context import PHASE_PROOF_SHARE
    from harness.run.outcome import phase_reason

    return [
        PhaseProof(
            phase=phase,
            sent=c["sent"],
            succeeded=c["succeeded"],
            reason=phase_reason(c["sent"], c["succeeded"]),
        )
        for phase, c in proof.items()
        if c.get("sent") and c.get("succeeded", 0) < PHASE_PROOF_SHARE * c["sent"]
    ]


def merge_dirs(paths: list[Path], *, run_id: str | None = None) -> Results:
    """Find and read the shards' results under ``paths`` and merge them; a file that cannot
    be read is an error of the merged run (its shard counts as missing)."""
    problems: list[RunError] = []
    shards: list[Results] = []
    files = find_results(paths)
    if not files:
        problems.append(
            _error("input", "no results.json under " + ", ".join(str(p) for p in paths))
        )
    for path in files:
        try:
            shards.append(load_results(path))
        except HarnessError as exc:
            problems.append(_error("input", exc.message))
    return merge_results(shards, run_id=run_id, problems=problems)
