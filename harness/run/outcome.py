"""The results document, built in one place from what the phases left in the run context."""

from __future__ import annotations

import datetime as dt
import hashlib
import platform
import statistics
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.cases.masking import (
    echoed,
    mask_echoes,
    mask_request,
    masked_places,
    unquote_placeholders,
)
from harness.compare.comparison import shown_headers
from harness.compare.findings import Group, finding_ids
from harness.compare.normalization import JsonText, shape
from harness.db.watcher import CROSS_ENGINE_NOTE
from harness.models import NOT_SET, ExchangeResult, PreparedRequest, Writes
from harness.pair.transport import curl_line
from harness.reporting.results import (
    AcceptedInput,
    AcceptedRule,
    CaptureSource,
    Cause,
    ContentInfo,
    Coverage,
    DiffEntry,
    Example,
    Finding,
    FindingLocation,
    GenerationError,
    InvariantResult,
    NoiseEntry,
    OperationSummary,
    Phase,
    PhaseProof,
    RequestInfo,
    ResponseInfo,
    ResponseReached,
    Results,
    RunConfigInfo,
    RunError,
    Stats,
    Step,
    TargetInfo,
    TrafficSummary,
    Unproven,
)
from harness.run.context import OpStats, RunContext
from harness.setup.config import AuthScheme, ParityConfig
from harness.setup.contract import Operation
from harness.traffic.replay import ENTRY_HEADER

__all__ = ["RunMeta", "build_results", "environment", "operation_summary", "request_info"]


@dataclass
class RunMeta:
    """What the orchestrator knows about the run itself."""

    run_id: str
    profile: str
    seed: int
    mode: str
    contract: str
    config: str
    phases: list[str]
    started_at: str
    duration_s: float
    interrupted: bool = False
    errors: list[dict[str, Any]] = field(default_factory=list)
    require_proof: bool = True
    probes_skipped: list[str] = field(default_factory=list)  # [probes] kinds switched off


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0, "mean": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def jsonable(value: Any) -> Any:
    if isinstance(value, JsonText):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is NOT_SET:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _writes(writes: Writes | None) -> dict[str, Any]:
    if not writes:
        return {}
    return {table: jsonable(tw.to_dict()) for table, tw in writes.items()}


def request_info(req: PreparedRequest, config: ParityConfig) -> RequestInfo:
    query: dict[str, Any] = {}
    for k, v in req.query:
        query[k] = (
            v if k not in query else [*([query[k]] if isinstance(query[k], str) else query[k]), v]
        )
    headers = dict(req.headers)
    if req.role is not None:
        scheme = config.auth.for_role(req.role) if config.auth else AuthScheme()
        if scheme.token_in == "header":
            headers[scheme.header] = f"{scheme.prefix}<{req.role}>"
        elif scheme.token_in == "query" and scheme.name:
            query[scheme.name] = f"<{req.role}>"
        else:
            headers["cookie"] = f"{scheme.name or 'session'}=<{req.role}>"
    return RequestInfo(
        method=req.method,
        path=req.path,
        query=query,
        headers=headers,
        body=jsonable(req.body),
        role=req.role,
        mode=req.mode,
    )


def operation_summary(ctx: RunContext, stats: OpStats) -> OperationSummary:
    groups = [m[0] for m in ctx.findings.together() if m[0].operation == stats.op.id]
    return OperationSummary(
        id=stats.op.id,
        method=stats.op.method,
        path=stats.op.path,
        operation_id=stats.op.operation_id,
        cases=stats.cases,
        agreeing=stats.agreeing,
        findings=sum(1 for g in groups if g.accepted_by is None),
        accepted=sum(1 for g in groups if g.accepted_by is not None),
        proven=stats.op.api is not None and ctx.stats.proven(stats.op),
        row_states=sorted(ctx.stats.row_states.get(stats.op.id, set())),
        status_codes={k: dict(sorted(v.items())) for k, v in stats.statuses.items()},
        latency_ms={k: _latency(v) for k, v in stats.latency.items()},
        responses=responses_reached(ctx, stats.op),
        content=_content(ctx, stats.op.id),
    )


def _content(ctx: RunContext, op_id: str) -> ContentInfo | None:
    tally = ctx.stats.content.tallies.get(op_id)
    if tally is None:
        return None
    return ContentInfo(
        successes=tally.successes,
        with_items=tally.with_items,
        compared=tally.compared,
        hollow=tally.hollow,
    )


def _documented(op: Operation, status: str) -> bool:
    documented = {s.upper() for s in op.statuses if s != "default"}
    return status in documented or f"{status[:1]}XX" in documented


def responses_reached(ctx: RunContext, op: Operation) -> list[ResponseReached]:
    """Per status (each documented one, each one seen): how often each side answered it,
    in every phase, and the phases where both did in one exchange."""
    answers = ctx.stats.answers.get(op.id, Counter())
    phases = ctx.stats.phases.get(op.id, {})
    codes = {s for s in op.statuses if s != "default"}
    for lstatus, cstatus in answers:
        codes |= {str(lstatus), str(cstatus)}
    out = []
    for code in sorted(codes):
        both = [(pair, n) for pair, n in answers.items() if pair == (_int(code), _int(code))]
        out.append(
            ResponseReached(
                status=code,
                documented=_documented(op, code.upper()),
                legacy=sum(n for (lc, _), n in answers.items() if str(lc) == code),
                candidate=sum(n for (_, cc), n in answers.items() if str(cc) == code),
                both=sum(n for _, n in both),
                phases=sorted({p for pair, _ in both for p in phases.get(pair, set())}),
            )
        )
    return out


def _int(code: str) -> int:
    return int(code) if code.isdigit() else -1


def _shown(req: PreparedRequest, config: ParityConfig) -> PreparedRequest:
    """``req`` as parity writes it out: values read from a user's database as placeholders
    (``harness.cases.masking``), unless ``[external] show_data_values``."""
    return req if config.external.show_data_values else mask_request(req)


def _echoes(config: ParityConfig, exchanges: list[ExchangeResult]) -> dict[str, str]:
    """The private texts these exchanges' requests carried (``harness.cases.masking``)."""
    if config.external.show_data_values:
        return {}
    out: dict[str, str] = {}
    for ex in exchanges:
        out.update(echoed(ex.request))
        if ex.candidate_request is not None:
            out.update(echoed(ex.candidate_request))
    return out


def _step(ctx: RunContext, ex: ExchangeResult) -> Step:
    req = _shown(ex.request, ctx.config)
    theirs = _shown(ex.candidate_request, ctx.config) if ex.candidate_request else None
    shown = shown_headers(ctx.config.compare)
    auth = ctx.config.auth
    scheme = auth.for_role(req.role) if auth else AuthScheme()
    curl = {
        key: unquote_placeholders(
            curl_line(
                ctx.pair.targets[key].base_url,
                (theirs or req) if key == "candidate" else req,
                scheme=scheme,
                token_var=f"{key.upper()}_TOKEN",
            )
        )
        for key in ("legacy", "candidate")
        if key in ctx.pair.targets
    }
    replay = {
        key: unquote_placeholders(
            curl_line(
                "",
                (theirs or req) if key == "candidate" else req,
                scheme=scheme,
                token_var=f"{key.upper()}_TOKEN",
                url_var=f"{key.upper()}_URL",
            )
        )
        for key in ("legacy", "candidate")
    }
    echoes = _echoes(ctx.config, [ex])
    step = Step(
        request=request_info(req, ctx.config),
        legacy=ResponseInfo.model_validate(mask_echoes(jsonable(ex.legacy.to_dict(shown)), echoes)),
        candidate=ResponseInfo.model_validate(
            mask_echoes(jsonable(ex.candidate.to_dict(shown)), echoes)
        ),
        curl=curl,
        replay=replay,
    )
    if theirs is not None and theirs.signature() != req.signature():
        step.candidate_request = request_info(theirs, ctx.config)
    if not ctx.config.external.show_data_values:
        places = masked_places(ex.request)
        if ex.candidate_request is not None:
            places += [p for p in masked_places(ex.candidate_request) if p not in places]
        step.masked = places
    return step


def _finding(
    ctx: RunContext, members: list[Group], causes: Counter[tuple[str, str, str]]
) -> Finding:
    """One finding: the groups one request showed together, the first the primary
    (``causes``: how many findings each status pair of an operation has)."""
    group = members[0]
    ex = group.example
    # stateless and rows share one key space (a group found by either is the same finding)
    # kinds split off an older one keep its ids, so merge, "since the previous run" and
    # accepted differences hold across the change (a time shift was a "value"); a status
    # pair split by cause names its unsplit id in previous_ids
    prefix = () if group.phase in ("stateless", "rows") else (group.phase,)
    finding_id, previous_ids = finding_ids(group, *prefix)
    digest = finding_id.removeprefix("f-")
    places = {(g.location, g.kind, g.cause) for g in members}
    same = [d for d in ex.differences if (d.location, d.kind, d.cause) in places]
    same.sort(key=lambda d: (d.location, d.kind) != (group.location, group.kind))
    rule = group.accepted_by
    echoes = _echoes(ctx.config, [ex, *(group.steps or [])])
    summary = group.difference.summary
    if group.cause:
        cause = group.cause if len(group.cause) <= 120 else group.cause[:119] + "…"
        summary += f" ({cause})"
        split = causes[(group.operation, group.kind, group.location)]
        if split > 1:
            summary += f"; one of {split} causes of this status pair"
    phase = "probes" if ex.request.mode == "probe" else group.phase
    # the groups of the primary's own requests; then the same cause seen elsewhere
    own = [g for g in members if g.operation == group.operation and _phase(g) == phase]
    own = [g for i, g in enumerate(own) if g.key not in {o.key for o in own[:i]}]
    elsewhere = [g for g in members if not any(g is o for o in own)]
    if len(own) > 1:
        others = ", ".join(g.location for g in own[1:4])
        more = f" +{len(own) - 4}" if len(own) > 4 else ""
        summary += f" (and {others}{more}: the same requests)"
    phases = sorted({phase, *(_phase(g) for g in members)})
    if elsewhere:
        routes = sorted({g.operation for g in elsewhere if g.operation != group.operation})
        seen_in = sorted({_phase(g) for g in elsewhere if _phase(g) != phase})
        also = [f"on {', '.join(routes)}"] if routes else []
        also += [f"in {', '.join(seen_in)}"] if seen_in else []
        summary += "; also " + "; ".join(also)
    return Finding(
        id=finding_id,
        previous_ids=previous_ids,
        phase=phase,
        operation=group.operation,
        location=group.location,
        cause=group.cause or None,
        kind=group.kind,
        summary=summary,
        count=max(g.count for g in members),
        accepted=rule is not None,
        accepted_reason=rule.reason if rule else None,
        accepted_expires=rule.expires.isoformat() if rule else None,
        example=Example(
            steps=[_step(ctx, s) for s in (group.steps or [ex])],
            diff=[
                DiffEntry(**mask_echoes(jsonable(d.to_dict()), echoes))
                for d in (same or [group.difference])
            ],
            other_diffs=[
                DiffEntry(**mask_echoes(jsonable(d.to_dict()), echoes))
                for d in ex.differences
                if d not in same
            ][:20],
            db_writes={
                "legacy": mask_echoes(_writes(ex.legacy_writes), echoes),
                "candidate": mask_echoes(_writes(ex.candidate_writes), echoes),
            },
        ),
        replay=f"replay/f-{digest}.sh",
        capture=_capture_source(ctx, ex.request),
        locations=[
            *(
                FindingLocation(
                    location=g.location,
                    cause=g.cause or None,
                    kind=g.kind,
                    count=g.count,
                    summary=g.difference.summary,
                    accepted=g.accepted_by is not None,
                )
                for g in own
            ),
            *(
                FindingLocation(
                    location=g.location,
                    cause=g.cause or None,
                    kind=g.kind,
                    count=g.count,
                    summary=g.difference.summary,
                    accepted=g.accepted_by is not None,
                    operation=g.operation if g.operation != group.operation else None,
                    phase=_phase(g) if _phase(g) != phase else None,
                )
                for g in elsewhere
            ),
        ],
        phases=phases if len(phases) > 1 else [],
    )


def _phase(group: Group) -> Phase:
    """The phase a group is reported under (a probe's, whatever phase sent it)."""
    return cast(Phase, "probes" if group.example.request.mode == "probe" else group.phase)


def _capture_source(ctx: RunContext, req: PreparedRequest) -> CaptureSource | None:
    """A traffic example names its capture entry in a header; the phase kept what it was."""
    entry = next((v for k, v in req.headers if k == ENTRY_HEADER), None)
    known = ctx.stats.sources.get(entry) if entry else None
    return CaptureSource.model_validate(known) if known else None


def _value_shape(value: Any) -> str:
    if isinstance(value, str):
        return "json-text" if value[:1] in "{[" else f"'{shape(value)[:24]}'"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def causes(findings: list[Finding]) -> list[Cause]:
    """Open findings grouped by (location, kind, shape of the two values), across
    operations and phases; the biggest cause first."""
    groups: dict[tuple[str, str, str], list[Finding]] = {}
    for f in findings:
        if f.accepted:
            continue
        first = f.example.diff[0] if f.example.diff else None
        pair = f"{_value_shape(first.legacy)} -> {_value_shape(first.candidate)}" if first else ""
        groups.setdefault((f.location, f.kind, pair), []).append(f)
    out: list[Cause] = []
    for (location, kind, pair), members in groups.items():
        ops: Counter[str] = Counter()
        for f in members:
            ops[f.operation] += f.count
        digest = hashlib.sha1(f"{location}|{kind}|{pair}".encode()).hexdigest()[:8]
        out.append(
            Cause(
                id=f"c-{digest}",
                location=location,
                kind=kind,
                shape=pair,
                operations=dict(ops.most_common()),
                findings=[f.id for f in members],
                summary=members[0].summary,
            )
        )
    return sorted(out, key=lambda c: (-len(c.operations), -sum(c.operations.values())))


def phase_reason(sent: int, ok: int) -> str:
    return (
        f"{ok} of its {sent} requests meant to succeed (positive, as a role that succeeded "
        "on the operation before) got a documented 2xx on both sides; at least half must "
        "(a lost session or missing rows make a phase compare error answers)"
    )


def _unproven_phases(ctx: RunContext) -> list[PhaseProof]:
    """The phases whose requests meant to succeed mostly answered something else."""
    return [
        PhaseProof(
            phase=phase,
            sent=sent,
            succeeded=ok,
            reason=phase_reason(sent, ok),
        )
        for phase, sent, ok in ctx.stats.unproven_phases()
    ]


def _unproven(ctx: RunContext) -> list[Unproven]:
    allowed = {rule.operation: rule.reason for rule in ctx.config.unproven}
    out: list[Unproven] = []
    for op in ctx.selected:
        if ctx.stats.proven(op):
            continue
        reason = next((r for pattern, r in allowed.items() if _matches(pattern, op.id)), None)
        if reason is not None:
            out.append(Unproven(operation=op.id, allowed=True, reason=reason))
            continue
        answers: Counter[tuple[int, int]] = ctx.stats.answers.get(op.id, Counter())
        if not answers:
            why = "no case was sent"
        else:
            (lstatus, cstatus), n = answers.most_common(1)[0]
            total = sum(answers.values())
            why = (
                f"no case got a documented 2xx from both sides; commonest answer "
                f"legacy {lstatus} / candidate {cstatus} ({n} of {total})"
            )
        out.append(Unproven(operation=op.id, allowed=False, reason=why))
    return out


def _matches(pattern: str, op_id: str) -> bool:
    from harness.setup.contract import match_operation

    return match_operation(pattern, op_id)


def _coverage(ctx: RunContext) -> Coverage:
    total = seen = both = 0
    for op in ctx.selected:
        documented = [s for s in op.statuses if s != "default"]
        total += len(documented)
        pairs: Counter[tuple[int, int]] = ctx.stats.answers.get(op.id, Counter())
        both += sum(
            1
            for s in documented
            if any(
                lc == cc and (str(lc) == s or (s.upper().endswith("XX") and str(lc)[0] == s[0]))
                for lc, cc in pairs
            )
        )
        stats = ctx.stats.ops.get(op.id)
        codes = {str(lc) for lc, _ in ctx.stats.answers.get(op.id, {})}
        if stats:
            codes |= set(stats.statuses["legacy"])
        seen += sum(
            1
            for s in documented
            if s in codes or (s.upper().endswith("XX") and any(c[0] == s[0] for c in codes))
        )
    return Coverage(
        operations_total=len(ctx.contract.operations),
        operations_exercised=sum(
            1 for k, s in ctx.stats.ops.items() if s.cases and s.op.api is not None
        ),
        operations_proven=sum(1 for op in ctx.selected if ctx.stats.proven(op)),
        responses_total=total,
        responses_seen=seen,
        responses_seen_both=both,
        lists_hollow=[k for k in ctx.stats.content.hollow() if k in {o.id for o in ctx.selected}],
    )


def _git_commit(directory: Path) -> str | None:
    """The last commit that touched ``directory`` (each service's own source tree)."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%h", "--", "."],
            cwd=directory,
            capture_output=True,
            timeout=5,
            check=False,
        )
    except OSError:
        return None
    return (out.stdout.decode().strip() or None) if out.returncode == 0 else None


def environment() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "parity": ver("parity"),
        "python": platform.python_version(),
        "schemathesis": ver("schemathesis"),
        "hypothesis": ver("hypothesis"),
        "platform": platform.platform(),
    }


def _targets(ctx: RunContext | None, config: ParityConfig, mode: str) -> dict[str, TargetInfo]:
    out: dict[str, TargetInfo] = {}
    for key in ("legacy", "candidate"):
        service = ctx.pair.services.get(key) if ctx else None
        base = ctx.pair.targets.get(key) if ctx else None
        svc_cfg = config.services.get(key)
        watcher = ctx.pair.watchers.get(key) if ctx else None
        commit = None
        if mode == "managed" and svc_cfg is not None:
            commit = _git_commit(config.resolve(svc_cfg.source or svc_cfg.cwd))
        out[key] = TargetInfo(
            name=service.name if service else (svc_cfg.name if svc_cfg and svc_cfg.name else key),
            base_url=base.base_url if base else None,
            command=service.command_line if service else None,
            git_commit=commit,
            database=ctx.pair.engines.get(key) if ctx and key in ctx.pair.watchers else None,
            restores=watcher.restores if watcher else 0,
            restore_s=round(watcher.restore_s, 4) if watcher else 0.0,
            retries=ctx.pair.retries.get(key, 0) if ctx else 0,
        )
    return out


def _warnings(ctx: RunContext) -> list[str]:
    out: list[str] = list(ctx.stats.warnings)
    for role, count in sorted(ctx.stats.renewals.items()):
        out.append(
            f"the {role} session ended mid-run {count} time(s) (its announced life ran out, "
            "or a 401); parity logged in again each time (a 401 request re-sent)"
        )
    for role, refused in sorted(ctx.stats.fixed_refused.items()):
        if sum(refused.values()):
            sides = ", ".join(f"{side} {n}" for side, n in sorted(refused.items()) if n)
            out.append(
                f"role {role}'s fixed token ({ctx.pair.fixed.get(role, 'fixed')}) was refused "
                f"with 401 mid-run ({sides} valid request(s)): it expired or is invalid, and "
                "a fixed token is never renewed; set a fresh one (or give the role a login body)"
            )
    for op_id, statuses in sorted(ctx.stats.positive.items()):
        if ctx.stats.proven(ctx.contract.get(op_id)):
            continue  # some valid case succeeded: the contract and fixtures can reach it
        total = sum(statuses.values())
        rejected = Counter({s: n for s, n in statuses.items() if 400 <= s < 500})
        if total >= 5 and sum(rejected.values()) > 0.9 * total:
            status, n = rejected.most_common(1)[0]
            if status == 401 and any(sum(c.values()) for c in ctx.stats.fixed_refused.values()):
                continue  # a refused fixed token, reported above
            out.append(
                f"{op_id}: the legacy rejected {sum(rejected.values())} of {total} valid cases "
                f"(commonest: {status}, {n} times): the contract, its examples or the fixtures "
                "are wrong for this service, not the pair"
            )
    for op_id in ctx.stats.content.hollow():
        tally = ctx.stats.content.tallies[op_id]
        out.append(
            f"{op_id}: not really tested: all {tally.successes} successful answers were empty "
            "lists on both sides (no item was compared); give it rows (fixtures, a seed) "
            "or filters that match"
        )
    if ctx.pair.cross_engine:
        out.append(f"the two databases are different engines: {CROSS_ENGINE_NOTE}")
    if not ctx.pair.watchers:
        out.append(
            "no database access in this mode: write diffs, invariants and interop were not "
            "compared (responses only)"
        )
    return out


def _nothing_tested(ctx: RunContext) -> str | None:
    """Every request answered the same 404 on both sides: parity tested nothing."""
    answers: Counter[tuple[int, int]] = Counter()
    for op in ctx.selected:
        answers.update(ctx.stats.answers.get(op.id, Counter()))
    if answers and set(answers) == {(404, 404)}:
        return (
            f"every request ({sum(answers.values())}) answered 404 on both sides: the base path "
            f"({ctx.config.base_path or ctx.contract.base_path or '/'}) or the contract does not "
            "match the services; nothing was tested"
        )
    return None


def build_results(meta: RunMeta, config: ParityConfig, ctx: RunContext | None) -> Results:
    """The verdict and every section; ``ctx`` is None when the run failed before it began."""
    today = dt.date.today()
    rules = config.accept_rules(meta.profile)
    expired = [rule for rule in rules if rule.expires < today]
    messages: list[str] = []
    findings: list[Finding] = []
    operations: list[OperationSummary] = []
    unproven: list[Unproven] = []
    invariants: list[InvariantResult] = []
    noise: list[NoiseEntry] = []
    matched: Counter[int] = Counter()
    warnings: list[str] = []
    if ctx is not None:
        warnings = _warnings(ctx)
        nothing = _nothing_tested(ctx)
        if nothing is not None and not meta.errors:
            meta.errors.append({"kind": "contract", "message": nothing, "log_tail": None})
        together = ctx.findings.together()
        split = Counter((g.operation, g.kind, g.location) for g, *_ in together if g.cause)
        findings = sorted(
            (_finding(ctx, members, split) for members in together),
            key=lambda f: (f.accepted, f.operation, f.location, f.kind, f.cause or ""),
        )
        for g in ctx.findings.groups.values():
            if g.accepted_by is not None:
                matched[id(g.accepted_by)] += g.count
        operations = [
            operation_summary(ctx, s)
            for s in sorted(ctx.stats.ops.values(), key=lambda s: s.op.api is None)
        ]
        unproven = _unproven(ctx)
        for item in ctx.invariants.summary():
            if isinstance(item.get("request"), PreparedRequest):
                item = {**item, "request": request_info(_shown(item["request"], config), config)}
            invariants.append(InvariantResult.model_validate(item))
        noise = [NoiseEntry(**e) for e in ctx.noise.results(ctx.stats.cases_per_op())]
    accepted = [
        AcceptedRule(
            operation=rule.operation,
            location=rule.location,
            kind=rule.kind,
            reason=rule.reason,
            expires=rule.expires.isoformat(),
            matched=matched[id(rule)],
            expired=rule.expires < today,
        )
        for rule in rules
    ]
    drift = any(not f.accepted for f in findings) or bool(expired)
    missing = [u.operation for u in unproven if not u.allowed] if meta.require_proof else []
    blind = _unproven_phases(ctx) if ctx else []
    proved_nothing = list(ctx.stats.incomplete) if ctx is not None else []
    if meta.errors or meta.interrupted:
        verdict, code = "error", 2
    elif drift:
        verdict, code = "drift", 1
    elif missing or blind or proved_nothing:
        verdict, code = "incomplete", 2
    else:
        verdict, code = "agree", 0
    if missing and not meta.errors and not meta.interrupted:
        messages.append("nothing was proven for: " + ", ".join(missing))
    if not meta.errors and not meta.interrupted:
        messages += [f"phase {p.phase} proved nothing: {p.reason}" for p in blind]
    for rule in expired:
        messages.append(
            f"accepted difference expired on {rule.expires}: {rule.operation} "
            f"{rule.location} {rule.kind} ({rule.reason}) - renew it or fix the drift"
        )
    gen = ctx.cases.stats if ctx else None
    gen_errors = [
        GenerationError(operation=o, mode=m, type=t, message=msg)
        for o, m, t, msg in (gen.errors if gen else [])
    ]
    timings = ctx.pair.timings.to_dict() if ctx else {}
    if ctx:
        timings["generation"] = round(ctx.cases.seconds, 3)
    return Results(
        run_id=meta.run_id,
        verdict=verdict,
        exit_code=code,
        started_at=meta.started_at,
        finished_at=now(),
        duration_s=round(meta.duration_s, 2),
        interrupted=meta.interrupted,
        config=RunConfigInfo(
            profile=meta.profile,
            seed=meta.seed,
            mode=meta.mode,
            contract=meta.contract,
            config=meta.config,
            operations=[op.id for op in ctx.selected] if ctx else [],
            phases=meta.phases,
            probes_skipped=meta.probes_skipped,
        ),
        targets=_targets(ctx, config, meta.mode),
        environment=environment(),
        operations=operations,
        findings=findings,
        causes=causes(findings),
        accepted=accepted,
        noise=noise,
        invariants=invariants,
        coverage=_coverage(ctx)
        if ctx
        else Coverage(
            operations_total=0,
            operations_exercised=0,
            operations_proven=0,
            responses_total=0,
            responses_seen=0,
        ),
        unproven=unproven,
        unproven_phases=blind,
        accepted_inputs=[
            AcceptedInput(
                operation=op_id,
                count=count,
                statuses=f"{example.legacy.status} vs {example.candidate.status}",
                breaks=broken,
                request=request_info(_shown(example.request, ctx.config), ctx.config),
            )
            for op_id, (count, example, broken) in sorted(ctx.stats.accepted_inputs.items())
        ]
        if ctx
        else [],
        errors=[RunError.model_validate(e) for e in meta.errors],
        messages=messages,
        warnings=warnings,
        traffic=TrafficSummary.model_validate(ctx.stats.traffic)
        if ctx and ctx.stats.traffic
        else None,
        stats=Stats(
            exchanges=ctx.stats.exchanges if ctx else 0,
            cases_drawn=gen.drawn if gen else 0,
            duplicates_dropped=gen.duplicates if gen else 0,
            unencodable_dropped=gen.unencodable if gen else 0,
            generation_errors=gen_errors[:50],
            generation_errors_by_type=dict(Counter(e.type for e in gen_errors)),
            restores=ctx.pair.restores if ctx else 0,
            resets=ctx.pair.resets if ctx else 0,
            case_cache_hits=ctx.cases.cache_hits if ctx else 0,
            timings_s=timings,
            invariant_findings=any(f.kind == "invariant" for f in findings),
            stateful=ctx.stats.stateful if ctx else {},
            interop=ctx.stats.interop if ctx else {},
            realtime=ctx.stats.realtime if ctx else {},
            jobs=dict(ctx.stats.jobs) if ctx else {},
            edges=dict(ctx.stats.edges) if ctx else {},
            phase_proof={k: dict(v) for k, v in ctx.stats.meant.items()} if ctx else {},
            notes=ctx.stats.notes if ctx else [],
        ),
    )
