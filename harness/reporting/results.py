"""The results document (``results.json``) and the events the engine emits, as pydantic models.

Every reporter reads only :class:`Results`; ``docs/results.schema.json`` is generated from
it (``python -m harness.reporting.results --write``) and a test fails when the two disagree.
A file of another ``schema_version`` is a clear error, never a half-read report.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.setup.schema import schema_main

__all__ = [
    "SCHEMA_VERSION",
    "AcceptedRule",
    "BreakerTransitionInfo",
    "CaptureSource",
    "CaseDone",
    "Cause",
    "ContractGap",
    "Coverage",
    "DiffEntry",
    "Example",
    "Finding",
    "FindingKind",
    "FindingLocation",
    "GatewayRoute",
    "GatewaySummary",
    "GenerationError",
    "InvariantResult",
    "NoiseEntry",
    "OperationFinished",
    "OperationStarted",
    "OperationSummary",
    "RequestInfo",
    "ResponseInfo",
    "ResponseReached",
    "Results",
    "RouteChangeInfo",
    "RunConfigInfo",
    "RunError",
    "RunStarted",
    "ShardEvidence",
    "ShardInfo",
    "ShardRun",
    "Step",
    "TargetInfo",
    "TrafficSummary",
    "Unproven",
    "Verdict",
    "gap_text",
    "load_results",
]

SCHEMA_VERSION = 2

Verdict = Literal["agree", "drift", "incomplete", "error"]
Phase = Literal[
    "contract",
    "probes",
    "stateless",
    "rows",
    "stateful",
    "interop",
    "invariants",
    "realtime",
    "traffic",
    "readback",
    "growth",
]
FindingKind = Literal[
    "status",
    "header",
    "value",
    "time",
    "type",
    "format",
    "missing",
    "extra",
    "ordering",
    "db_insert",
    "db_update",
    "db_delete",
    "db_table",
    "invariant",
    "contract",
]
ErrorKind = Literal[
    "harness",
    "service",
    "config",
    "contract",
    "input",
    "auth",
    "interrupted",
    "incomplete",
    "database",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunConfigInfo(_Model):
    profile: str
    seed: int
    mode: Literal["managed", "external"]
    contract: str
    config: str
    operations: list[str] = Field(description="the selected operations, in run order")
    phases: list[str] = Field(description="the phases this run planned, in order")
    probes_skipped: list[str] = Field(
        default_factory=list,
        description="probe kinds switched off in [probes] (methods, slash, head, options, "
        "auth, idempotency, rate_limit): none of their requests was sent",
    )


class TargetInfo(_Model):
    name: str
    base_url: str | None
    command: str | None
    git_commit: str | None = Field(description="the commit of this service's own source tree")
    version: str | None = None
    database: str | None = Field(default=None, description="the engine of its database")
    restores: int = Field(0, description="times its database was restored to the baseline")
    restore_s: float = Field(0.0, description="seconds those restores took, all together")
    retries: int = Field(
        0,
        description="requests re-sent to it on a fresh connection after it dropped one (a "
        "server closing a keep-alive connection after an error); each is still one answer",
    )


class LatencyStats(_Model):
    p50: float
    p95: float
    max: float
    mean: float | None = Field(
        default=None, description="what --shard balances on (absent in older results)"
    )
    p99: float | None = Field(default=None, description="the gateway's routes give it")


class ResponseReached(_Model):
    """One status of one operation: documented or not, how often each side answered it."""

    status: str
    documented: bool = Field(description="the contract documents it (exactly or as 2XX...)")
    legacy: int = Field(description="exchanges the legacy answered with it, every phase")
    candidate: int = Field(description="exchanges the candidate answered with it")
    both: int = Field(description="exchanges both sides answered with it")
    phases: list[str] = Field(
        default_factory=list,
        description="the phases where both sides answered it (rows:created: a row created "
        "first through a linked operation)",
    )


class ContentInfo(_Model):
    """A list or search operation's successful answers and what was in them."""

    successes: int = Field(description="cases where both sides answered 2xx")
    with_items: int = Field(description="of those, answers with at least one item on a side")
    compared: int = Field(description="of those, answers whose items both sides had, compared")
    hollow: bool = Field(
        description="every successful answer was empty on both sides: not really tested"
    )


class OperationSummary(_Model):
    id: str
    method: str
    path: str
    operation_id: str | None
    cases: int
    agreeing: int
    findings: int
    accepted: int
    proven: bool = Field(description="a case got a documented 2xx from both sides")
    row_states: list[str] = Field(
        default_factory=list, description="states of existing rows this operation was sent for"
    )
    status_codes: dict[str, dict[str, int]]
    latency_ms: dict[str, LatencyStats]
    responses: list[ResponseReached] = Field(
        default_factory=list,
        description="every documented status and every status seen, with the phases that "
        "reached it on both sides (absent in older results)",
    )
    content: ContentInfo | None = Field(
        default=None,
        description="list and search operations (a documented 2xx array of objects): how "
        "many successful answers had items to compare",
    )


class RequestInfo(_Model):
    method: str
    path: str
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any = None
    role: str | None
    mode: str


class ResponseInfo(_Model):
    status: int
    headers: dict[str, str]
    body: Any = None
    elapsed_ms: float
    error: str | None = None


class Step(_Model):
    request: RequestInfo
    legacy: ResponseInfo
    candidate: ResponseInfo
    curl: dict[str, str]
    candidate_request: RequestInfo | None = None
    replay: dict[str, str] = Field(
        default_factory=dict,
        description='the curl line with the base URL as "${LEGACY_URL}" / "${CANDIDATE_URL}"',
    )
    masked: list[str] = Field(
        default_factory=list,
        description="values read from the user's database (URL mode) that the request, curl "
        'and replay lines show as placeholders, one per place: "query q: <data:notes.title>"; '
        "`[external] show_data_values = true` shows them",
    )


class DiffEntry(_Model):
    path: str
    kind: str
    location: str
    legacy: Any = None
    candidate: Any = None
    summary: str


class Example(_Model):
    steps: list[Step]
    diff: list[DiffEntry]
    other_diffs: list[DiffEntry]
    db_writes: dict[str, dict[str, Any]]


class FindingLocation(_Model):
    """One place a finding's requests differ (the finding's own location is the first)."""

    location: str
    cause: str | None = Field(
        None, description="a status pair: the cause it stands for (see Finding.cause)"
    )
    kind: FindingKind
    count: int = Field(description="cases that showed a difference here")
    summary: str
    accepted: bool = False
    operation: str | None = Field(
        None,
        description="where the same difference was also seen, when not the finding's own "
        "operation (a probe route: a trailing slash, another method, a varied credential)",
    )
    phase: Phase | None = Field(
        None, description="the phase that saw it here, when not the finding's own"
    )


class CaptureSource(_Model):
    """The captured request a traffic finding came from, as recorded (already redacted)."""

    entry: str = Field(description='"<file>#<seq>": the capture entry')
    file: str = Field(description="the capture file as given to --traffic")
    seq: int
    caller: str | None = Field(description="the caller's pseudonym in the capture")
    request: dict[str, Any] = Field(description="the request as captured, before ids were mapped")
    status: int | None = Field(description="the status the client got when it was captured")
    chain: str | None = Field(
        None,
        description="a capture beside results.json holding this entry and the requests it "
        "needs (its caller's earlier requests, the creates of the ids it uses): "
        "`parity run --traffic` on it replays the finding from the snapshot",
    )
    chain_length: int = 0


class Finding(_Model):
    id: str
    previous_ids: list[str] = Field(
        default_factory=list,
        description="the ids this finding had under an older grouping (a status pair before "
        "its causes were split): a previous run's finding with one of them is this one",
    )
    phase: Phase
    operation: str
    location: str
    cause: str | None = Field(
        None,
        description="a status pair: what tells this cause from another under the same pair "
        "(the two bodies' shapes, then the two error messages as templates when they "
        "differ); each cause is a finding of its own",
    )
    kind: FindingKind
    summary: str
    count: int
    accepted: bool
    accepted_reason: str | None
    accepted_expires: str | None
    example: Example
    locations: list[FindingLocation] = Field(
        default_factory=list,
        description="every place the same requests differ (body, headers, rows, event "
        "payloads, invariants): one cause per request; the first is the finding's own",
    )
    replay: str | None = Field(
        default=None,
        description="replay/<id>.sh beside results.json: a bash script that sends the "
        "example to both services with curl and shows the two answers",
    )
    capture: CaptureSource | None = Field(
        None, description="traffic findings: the capture entry the example came from"
    )
    phases: list[Phase] = Field(
        default_factory=list,
        description="every phase that saw this difference (one cause, one finding), when "
        "more than the finding's own",
    )


class AcceptedInput(_Model):
    """Input the contract forbids (a negative case) that both sides accepted with a 2xx:
    not drift, since they agree, but a gap a client may already rely on."""

    operation: str
    count: int = Field(description="negative cases both sides answered 2xx")
    statuses: str = Field(description='"legacy vs candidate" status of the example')
    breaks: list[str] = Field(description="what the example breaks in the contract")
    request: RequestInfo = Field(description="the smallest such case")


class Cause(_Model):
    """One difference (location, kind, shape of the two values) and every operation that
    shows it: the same 404 body on eleven operations is one cause, not eleven."""

    id: str
    location: str
    kind: str
    shape: str = Field(description="the two values' shapes, legacy -> candidate")
    operations: dict[str, int] = Field(description="operation -> cases showing it")
    findings: list[str] = Field(description="the ids of the findings it groups")
    summary: str


class AcceptedRule(_Model):
    operation: str
    location: str
    kind: str
    reason: str
    expires: str
    matched: int
    expired: bool


class NoiseEntry(_Model):
    operation: str
    location: str
    kind: str
    cases: int
    aa_rate: float | None
    ab_rate: float | None
    suppressed: int
    evidence: str
    source: str


class InvariantResult(_Model):
    name: str
    target: Literal["legacy", "candidate", "both"] | None
    passed: bool
    message: str
    skipped: bool = False
    checks: int | None = None
    count: int | None = None
    against: str | None = None
    operation: str | None = None
    request: RequestInfo | None = None
    status: int | None = None


class Coverage(_Model):
    operations_total: int
    operations_exercised: int
    operations_proven: int
    responses_total: int
    responses_seen: int
    responses_seen_both: int | None = Field(
        default=None,
        description="documented responses both sides gave in one exchange (responses_seen "
        "counts the legacy's)",
    )
    lists_hollow: list[str] = Field(
        default_factory=list,
        description="list operations whose successful answers were all empty on both sides",
    )


class PhaseProof(_Model):
    phase: str
    sent: int = Field(
        description="requests meant to succeed: positive, as a role that has "
        "succeeded on the operation before"
    )
    succeeded: int = Field(description="those that got a documented 2xx on both sides")
    reason: str = Field(description="why the phase proved nothing")


class Unproven(_Model):
    operation: str
    allowed: bool = Field(description="named in [[unproven]] of parity.toml")
    reason: str = Field(description="why nothing was proven, or the allow-list's reason")


class RunError(_Model):
    kind: ErrorKind
    message: str
    log_tail: str | None = None


class GenerationError(_Model):
    operation: str
    mode: str
    type: str = Field(description="the exception's type name")
    message: str


class ShardEvidence(_Model):
    """What one shard's exchanges showed of an operation (a sequence reaches operations of
    other shards): merged, these decide the gate and the coverage as one run would."""

    proven: bool
    codes: list[str] = Field(description="the legacy's statuses seen")
    documented: list[str] = Field(description="the statuses the contract documents")


class ShardInfo(_Model):
    index: int = Field(description="1-based")
    count: int
    operations: list[str] = Field(description="this shard's operations (stateless, rows, probes)")
    sequences: list[int] = Field(default_factory=list, description="stateful sequence numbers")
    interop: list[str] = Field(default_factory=list, description="interop source operations")
    selected: list[str] = Field(description="the whole run's selection, in run order")
    plan: str = Field(description="digest of the partition: the same in every shard of a run")
    cost: float = Field(description="this shard's expected cost (cases x mean latency)")
    require_proof: bool = Field(default=True, description="the profile's gate")
    evidence: dict[str, ShardEvidence] = Field(default_factory=dict)


class ShardRun(_Model):
    """One shard of a merged run, as it ran."""

    index: int
    run_id: str
    verdict: Verdict
    duration_s: float
    exchanges: int
    cost: float
    timings_s: dict[str, float]


class Stats(_Model):
    exchanges: int
    cases_drawn: int
    duplicates_dropped: int
    unencodable_dropped: int
    generation_errors: list[GenerationError]
    generation_errors_by_type: dict[str, int]
    restores: int
    resets: int = Field(
        default=0,
        description="URL mode: reset_command runs (batched: only before a case that could "
        "observe an earlier write); their time is timings_s.reset",
    )
    case_cache_hits: int
    timings_s: dict[str, float]
    invariant_findings: bool
    stateful: dict[str, int]
    interop: dict[str, int]
    realtime: dict[str, int] = Field(default_factory=dict)
    jobs: dict[str, int] = Field(
        default_factory=dict,
        description="background jobs followed to their end: settled (pairs compared), polls, "
        "timed_out; the durability probe's restarted (services killed and restarted under a "
        "job) and ended_before_restart (jobs that ended before a poll saw them claimed)",
    )
    edges: dict[str, int] = Field(
        default_factory=dict,
        description="edge probes sent per family: signing (refused signatures), idempotency",
    )
    phase_proof: dict[str, dict[str, int]] = Field(
        default_factory=dict,
        description="per phase: requests meant to succeed (sent) and those that did (succeeded)",
    )
    notes: list[str]
    shards: list[ShardRun] = Field(
        default_factory=list, description="a merged run: each shard's timings"
    )

    @classmethod
    def empty(cls, **given: Any) -> Stats:
        """Stats of a document that ran no generated cases (a failed merge, a gateway's
        results): every count zero, with the fields ``given``."""
        zero: dict[str, Any] = {
            "exchanges": 0,
            "cases_drawn": 0,
            "duplicates_dropped": 0,
            "unencodable_dropped": 0,
            "generation_errors": [],
            "generation_errors_by_type": {},
            "restores": 0,
            "case_cache_hits": 0,
            "timings_s": {},
            "invariant_findings": False,
            "stateful": {},
            "interop": {},
            "notes": [],
        }
        return cls(**{**zero, **given})


class ContractGap(_Model):
    """What the replayed traffic used on one operation that the contract leaves out."""

    operation: str
    in_contract: bool = Field(description="false: the contract has no such operation at all")
    query_parameters: list[str] = Field(default_factory=list)
    request_headers: list[str] = Field(
        default_factory=list,
        description="request headers (lower-case) the operation does not declare, "
        "standard and transport ones excluded",
    )
    statuses: list[int] = Field(default_factory=list)
    request_media_types: list[str] = Field(default_factory=list)
    response_media_types: list[str] = Field(default_factory=list)
    response_fields: list[str] = Field(default_factory=list)


_GAP_PARTS = (
    ("query_parameters", "query parameters"),
    ("request_headers", "request headers"),
    ("statuses", "statuses"),
    ("request_media_types", "request media types"),
    ("response_media_types", "response media types"),
    ("response_fields", "response fields"),
)


def gap_text(gap: Mapping[str, Any]) -> str:
    """One operation's contract gaps in a line (the console and the report say the same)."""
    parts = [] if gap.get("in_contract", True) else ["not in the contract"]
    for key, label in _GAP_PARTS:
        if gap.get(key):
            parts.append(f"{label}: " + ", ".join(str(v) for v in gap[key]))
    return "; ".join(parts)


class TrafficSummary(_Model):
    """``--traffic``: the replay's figures and what the contract leaves out."""

    files: list[str]
    figures: dict[str, float | int] = Field(
        description="requests, seconds, pairs_per_s, ids_mapped, environment_drift, "
        "not_found_both, attributed, time_shift_s"
    )
    gaps: list[ContractGap] = Field(description="per operation, the contract's gaps")
    overlay: str | None = Field(
        None, description="an OpenAPI Overlay beside results.json that would add the gaps"
    )


class BreakerTransitionInfo(_Model):
    """One change of a route's circuit breaker (closed, open, half-open)."""

    at: str
    before: str
    after: str
    reason: str


class RouteChangeInfo(_Model):
    """One change of a route's mode or share: by a person (``shift``) or by its schedule."""

    at: str
    who: str
    why: str
    kind: str
    before: str
    after: str


class GatewayRoute(_Model):
    """One route of a gateway: how it was served, how the port compared, what went wrong."""

    route: str
    mode: str
    percent: float | None = Field(None, description="canary: the share of callers on the port")
    requests: int = Field(description="requests the worker saw on this route (compared or not)")
    compared: int
    agreeing: int
    differing: int
    raced: int = Field(0, description="comparisons that overlapped a write")
    raced_cleared: int = Field(0, description="raced differences gone on re-reading")
    raced_unresolved: int = 0
    shadow_failed: int = Field(0, description="shadows the port did not answer")
    shadows_dropped: dict[str, int] = Field(
        default_factory=dict,
        description="shadows not sent, by reason (dropped_in_flight, dropped_body, "
        "dropped_queue, sampled_out, shed_in_flight, shed_latency, shed_cost, write_not_mirrored)",
    )
    eligible: int = Field(
        0,
        description="requests in shadow mode that could be mirrored (reads; writes too with "
        "separate databases): the base of the coverage",
    )
    shadowed: int = Field(
        0,
        description="of `eligible`, the ones sent to the port (the rest sampled out, shed or "
        "dropped, by reason in `shadows_dropped`): shadowed / eligible is the share of the "
        "route's traffic the comparison covers",
    )
    served_port: int = 0
    served_legacy: int = 0
    fallbacks: int = Field(0, description="requests meant for the port answered by the legacy")
    ambiguous_errors: int = Field(
        0, description="unsafe requests that failed after reaching the port: 502, never retried"
    )
    breaker: str | None = Field(None, description="closed, open or half-open (shifted routes)")
    breaker_transitions: list[BreakerTransitionInfo] = Field(default_factory=list)
    changes: list[RouteChangeInfo] = Field(default_factory=list)
    schedule: str | None = Field(None, description="the schedule's last verdict")
    latency_ms: dict[str, LatencyStats] = Field(
        default_factory=dict, description="per side (legacy, candidate) over compared requests"
    )


class GatewaySummary(_Model):
    """``parity gateway``: a panel per route."""

    routes: list[GatewayRoute]
    captured: int = 0
    dropped: dict[str, int] = Field(default_factory=dict)
    instances: list[str] = Field(
        default_factory=list,
        description="the gateway instances ([gateway] instance) these results come from; "
        "several after `parity gateway merge`, none for an unnamed single gateway",
    )
    captures: list[str] = Field(
        default_factory=list,
        description="the capture files written (the merged capture after a merge)",
    )


class Results(_Model):
    schema_version: Literal[2] = 2
    run_id: str
    verdict: Verdict
    exit_code: Literal[0, 1, 2]
    started_at: str
    finished_at: str
    duration_s: float
    interrupted: bool
    config: RunConfigInfo
    targets: dict[str, TargetInfo]
    environment: dict[str, str | None]
    operations: list[OperationSummary]
    findings: list[Finding]
    causes: list[Cause] = Field(description="open findings grouped by root cause")
    accepted: list[AcceptedRule]
    noise: list[NoiseEntry]
    invariants: list[InvariantResult]
    coverage: Coverage
    unproven: list[Unproven]
    unproven_phases: list[PhaseProof] = Field(
        default_factory=list,
        description="phases whose requests meant to succeed mostly did not (a lost session, "
        "no rows): what they compared were error answers, so the verdict is incomplete",
    )
    accepted_inputs: list[AcceptedInput] = Field(
        default_factory=list,
        description="negative cases (input the contract forbids) both sides accepted: "
        "not drift, listed so the contract or both services can be fixed",
    )
    errors: list[RunError]
    messages: list[str] = Field(description="why the verdict is what it is")
    warnings: list[str] = Field(
        description="what this run could not test or compare, and contracts or fixtures that "
        "look wrong (a legacy that rejects most valid cases)"
    )
    stats: Stats
    traffic: TrafficSummary | None = Field(
        None, description="--traffic: the replay's figures and the contract gaps it saw"
    )
    shard: ShardInfo | None = Field(
        default=None, description="a run of one shard (parity run --shard i/n)"
    )
    gateway: GatewaySummary | None = Field(
        default=None, description="parity gateway: per route mode, breaker, agreement, latency"
    )

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
        return path


def load_results(path: Path) -> Results:
    """Read and validate a results file; another schema version is an error that says so."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read results: {exc.strerror}", kind="input") from exc
    except ValueError as exc:
        raise HarnessError(f"{path}: not valid JSON: {exc}", kind="input") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"{path}: not a parity results file", kind="input")
    # A document without the key predates it: version 1. Versions only add keys, so an
    # older document is read when it has what this parity needs; a newer one never is.
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise HarnessError(
            f"{path}: results schema_version {version!r}; this parity reads version "
            f"{SCHEMA_VERSION} and older (use the parity that wrote it)",
            kind="input",
        )
    try:
        return Results.model_validate({**data, "schema_version": SCHEMA_VERSION})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[:3]
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in first)
        older = (
            f" (schema_version {version}, older than {SCHEMA_VERSION})"
            if version < SCHEMA_VERSION
            else ""
        )
        raise HarnessError(
            f"{path}: invalid results document{older}: {where}", kind="input"
        ) from exc


# -- events: what the engine tells its listeners while it runs ---------------------------------
class RunStarted(_Model):
    run_id: str
    profile: str
    seed: int
    mode: str
    operations: list[str]
    run_dir: str


class OperationStarted(_Model):
    label: str
    total: int


class CaseDone(_Model):
    label: str
    agreed: bool


class OperationFinished(_Model):
    summary: OperationSummary


def json_schema() -> str:
    return json.dumps(Results.model_json_schema(), indent=2, sort_keys=True) + "\n"


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "results.schema.json"


def main(argv: list[str] | None = None) -> int:
    """``python -m harness.reporting.results --write`` regenerates docs/results.schema.json."""
    return schema_main(argv, SCHEMA_FILE, json_schema())


if __name__ == "__main__":
    sys.exit(main())
