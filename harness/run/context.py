"""What every phase gets: the pair, the rules, the findings, the cases, and one verb to
replay a request on both targets (send, read writes, check invariants, restore, compare).

A phase never reaches back into the orchestrator; everything it may touch is here.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.cases.source import CaseSource
from harness.cases.violations import violations
from harness.compare.comparison import compare_exchange, differing_headers, request_orders
from harness.compare.content import ContentCoverage
from harness.compare.findings import Findings
from harness.compare.noise import NoiseLedger
from harness.compare.normalization import RuleSet
from harness.compare.tables import map_tables
from harness.db.watcher import normalize_pair
from harness.errors import HarnessError
from harness.models import Difference, ExchangeResult, PreparedRequest, Response, Writes
from harness.pair.targets import Pair, Sessions
from harness.reporting.results import CaseDone, OperationFinished, OperationStarted, RunStarted
from harness.run.invariant_log import InvariantLog
from harness.run.partition import ShardPart
from harness.run.settled import poll_operation, settled_differences
from harness.setup.config import ParityConfig, Profile
from harness.setup.contract import Contract, Operation, match_operation

if TYPE_CHECKING:
    from harness.cases.fixtures import FixtureValues

__all__ = [
    "AfterWrite",
    "GroupTally",
    "Listener",
    "NullListener",
    "OpStats",
    "RunContext",
    "RunStats",
    "documented_2xx",
]

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_SESSION_WORDS = re.compile(r"log-?out|sign-?out|password|/sessions?(/|$)", re.IGNORECASE)
_ACCOUNT_PATHS = re.compile(r"/(users?|accounts?|me|profile)(/|$)", re.IGNORECASE)


class Listener(Protocol):
    """Progress out of the engine, as typed events (the console reporter is one)."""

    def run_started(self, event: RunStarted) -> None: ...
    def message(self, text: str) -> None: ...
    def operation_started(self, event: OperationStarted) -> None: ...
    def case_done(self, event: CaseDone) -> None: ...
    def operation_finished(self, event: OperationFinished) -> None: ...


class AfterWrite(Protocol):
    """What follows a write before its restore (``harness.run.readback.ReadBack``)."""

    def wants(self, op: Operation, req: PreparedRequest) -> bool: ...
    def follow(self, op: Operation, result: ExchangeResult) -> None: ...


class NullListener:
    def run_started(self, event: RunStarted) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def operation_started(self, event: OperationStarted) -> None:
        pass

    def case_done(self, event: CaseDone) -> None:
        pass

    def operation_finished(self, event: OperationFinished) -> None:
        pass


@dataclass
class OpStats:
    op: Operation
    cases: int = 0
    agreeing: int = 0
    statuses: dict[str, Counter[str]] = field(
        default_factory=lambda: {"legacy": Counter(), "candidate": Counter()}
    )
    latency: dict[str, list[float]] = field(default_factory=lambda: {"legacy": [], "candidate": []})

    def add(self, result: ExchangeResult, agreed: bool) -> None:
        self.cases += 1
        self.agreeing += int(agreed)
        for key, resp in (("legacy", result.legacy), ("candidate", result.candidate)):
            self.statuses[key][str(resp.status)] += 1
            self.latency[key].append(resp.elapsed_ms)


def documented_2xx(op: Operation, status: int) -> bool:
    if not 200 <= status < 300:
        return False
    return str(status) in op.statuses or "2XX" in {s.upper() for s in op.statuses}


# the phases whose requests repeat what already succeeded (real rows, links, writes while
# streams are open); stateless and probes have proof per operation instead
PROOF_PHASES = ("rows", "stateful", "realtime", "interop")


@dataclass
class GroupTally:
    """One group of a loop's cases (``RunContext.replay_all`` ``groups``): the requests the
    phase's proof counted as meant to succeed, those that did, the legacy's statuses."""

    sent: int = 0
    succeeded: int = 0
    legacy: Counter[int] = field(default_factory=Counter)

    @property
    def legacy_succeeded(self) -> bool:
        return any(200 <= status < 300 for status in self.legacy)


PHASE_PROOF_SHARE = 0.5  # a phase is proven when at least this share of them succeeded
SUCCESSES_KEPT = 4  # successful requests kept per (operation, role)


@dataclass
class RunStats:
    """Counts of the run: per operation (cases, statuses, latency) and per phase."""

    ops: dict[str, OpStats] = field(default_factory=dict)
    # every exchange of every phase: (legacy status, candidate status) per operation
    answers: dict[str, Counter[tuple[int, int]]] = field(default_factory=dict)
    equivalent: set[tuple[str, int, int]] = field(default_factory=set)
    exchanges: int = 0
    stateful: dict[str, int] = field(
        default_factory=lambda: {"sequences": 0, "steps": 0, "failing": 0, "broken": 0}
    )
    interop: dict[str, int] = field(default_factory=lambda: {"writes": 0, "reads": 0, "failing": 0})
    realtime: dict[str, int] = field(
        default_factory=lambda: {
            "writes": 0,
            "succeeded": 0,
            "messages": 0,
            "row_writes_with_events": 0,
            "failing": 0,
        }
    )
    jobs: Counter[str] = field(default_factory=Counter)  # background jobs settled (issue 27)
    edges: Counter[str] = field(default_factory=Counter)  # signing/idempotency probes sent
    notes: list[str] = field(default_factory=list)  # what a phase could not do, and why
    warnings: list[str] = field(default_factory=list)  # what a reader must not miss
    incomplete: list[str] = field(default_factory=list)  # why a run proved nothing as a whole
    # traffic: a capture entry ("<file>#<seq>") -> where it came from (results' CaptureSource)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    traffic: dict[str, Any] = field(default_factory=dict)  # results' TrafficSummary
    renewals: Counter[str] = field(default_factory=Counter)  # re-logins that helped, per role
    # a fixed token's positive requests answered 401, per role and side (never renewed)
    fixed_refused: dict[str, Counter[str]] = field(default_factory=dict)
    # negative cases both sides answered 2xx: input the contract forbids and both accept,
    # per operation: [cases, the smallest example]
    accepted_inputs: dict[str, list[Any]] = field(default_factory=dict)
    row_states: dict[str, set[str]] = field(default_factory=dict)  # states reached per op
    # the phases each (legacy status, candidate status) answer came from, per operation
    phases: dict[str, dict[tuple[int, int], set[str]]] = field(default_factory=dict)
    # the legacy's statuses for the positive (contract-valid) stateless cases, per operation
    positive: dict[str, Counter[int]] = field(default_factory=dict)
    # list operations: how many successful answers had items to compare (harness.compare.content)
    content: ContentCoverage = field(default_factory=ContentCoverage)
    # proof per phase: requests meant to succeed ("sent") and those that did ("succeeded")
    meant: dict[str, Counter[str]] = field(default_factory=dict)
    # (operation, role) pairs that got a documented success on both sides: that role may call it
    ok_roles: set[tuple[str, str]] = field(default_factory=set)
    # a few requests per (operation, role) that succeeded on both sides, for phases that
    # replay known successes (realtime: writes while the streams are open)
    successes: dict[tuple[str, str], list[tuple[PreparedRequest, PreparedRequest | None]]] = field(
        default_factory=dict
    )
    # reads after writes (harness.run.readback.Affects): per write operation and table it
    # touched, how often each read's answer changed after it, and how often the read was
    # tried; the legacy's answer to each read request on the restored snapshot (a digest, or
    # "volatile")
    affected: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    affect_tries: dict[str, dict[str, Counter[str]]] = field(default_factory=dict)
    snapshot_answers: dict[str, str] = field(default_factory=dict)

    def succeeded(self, op: Operation, legacy: int, candidate: int) -> bool:
        """A documented 2xx on both sides (the same, or equal under a ``status`` rule)."""
        same = legacy == candidate or (op.id, legacy, candidate) in self.equivalent
        return same and documented_2xx(op, legacy) and 200 <= candidate < 300

    def unproven_phases(self, share: float = PHASE_PROOF_SHARE) -> list[tuple[str, int, int]]:
        """(phase, sent, succeeded) of each phase whose requests meant to succeed mostly
        did not: it compared error answers (a lost session, missing rows) and proved nothing."""
        return [
            (phase, c["sent"], c["succeeded"])
            for phase, c in sorted(self.meant.items())
            if c["sent"] and c["succeeded"] < share * c["sent"]
        ]

    def op(self, op: Operation) -> OpStats:
        return self.ops.setdefault(op.id, OpStats(op))

    def answered(
        self,
        op_id: str,
        legacy: Response,
        candidate: Response,
        *,
        same: bool = False,
        phase: str = "stateless",
    ) -> None:
        """``same``: the two statuses differ but a ``status`` rule makes them equal."""
        key = (legacy.status, candidate.status)
        self.answers.setdefault(op_id, Counter())[key] += 1
        self.phases.setdefault(op_id, {}).setdefault(key, set()).add(phase)
        if same:
            self.equivalent.add((op_id, legacy.status, candidate.status))
        self.content.add(op_id, legacy, candidate)

    def proven(self, op: Operation) -> bool:
        """At least one case got a documented 2xx from both sides (the same status, or two
        a ``status`` rule declares equal), in any phase."""
        return any(
            (lstatus == cstatus or (op.id, lstatus, cstatus) in self.equivalent)
            and documented_2xx(op, lstatus)
            and 200 <= cstatus < 300
            for lstatus, cstatus in self.answers.get(op.id, {})
        )

    def cases_per_op(self) -> dict[str, int]:
        return {k: s.cases for k, s in self.ops.items()}


@dataclass
class RunContext:
    contract: Contract
    config: ParityConfig
    profile: Profile
    seed: int
    selected: list[Operation]
    pair: Pair
    cases: CaseSource
    findings: Findings
    invariants: InvariantLog
    noise: NoiseLedger
    listener: Listener
    run_dir: Path
    stats: RunStats = field(default_factory=RunStats)
    on_exchange: Callable[[ExchangeResult], None] | None = None
    shard: ShardPart | None = None  # --shard i/n: ``selected`` is this shard's part
    phase: str = "stateless"  # the phase running now (the engine sets it): where answers came from
    _rules: dict[tuple[str, tuple[int, ...]], RuleSet] = field(default_factory=dict)
    _futile: Counter[str] = field(default_factory=Counter)  # re-logins that changed nothing

    def __post_init__(self) -> None:
        self.sessions = Sessions(self.pair)
        self.stats.content.learn(self.contract)
        self._fixtures: FixtureValues | None = None
        self._sequence: list[PreparedRequest] = []  # requests whose writes are in the state

    @property
    def fixtures(self) -> FixtureValues:
        """``[fixtures]``, each resolved on first use (on the legacy's data)."""
        if self._fixtures is None:
            from harness.cases.fixtures import FixtureValues

            self._fixtures = FixtureValues(self)
        return self._fixtures

    @property
    def everything(self) -> list[Operation]:
        """The whole run's selection: a shard's ``selected`` is only its part of it, while
        its sequences and interop cases follow links across all of it."""
        if self.shard is None:
            return self.selected
        return [self.contract.get(op_id) for op_id in self.shard.selected]

    def runs_sequence(self, k: int) -> bool:
        return self.shard is None or k in self.shard.sequences

    def runs_interop(self, source: str) -> bool:
        return self.shard is None or source in self.shard.interop

    @property
    def mode(self) -> str:
        return self.pair.mode

    def rules(self, op_id: str, req: PreparedRequest | None = None) -> RuleSet:
        """The normalize rules of ``op_id``; those with a ``when`` only if ``req`` meets it."""
        from harness.compare.conditions import holds

        every = self.config.normalize
        met = tuple(i for i, r in enumerate(every) if r.when is not None and holds(r.when, req))
        hit = self._rules.get((op_id, met))
        if hit is None:
            chosen = [r for i, r in enumerate(every) if r.when is None or i in met]
            hit = self._rules[(op_id, met)] = RuleSet(chosen, op_id)
        return hit

    def roles(self) -> list[str | None]:
        """The profile's named roles (anonymous aside); ``[None]`` when there are none."""
        named = [r for r in self.config.role_names(self.profile) if r is not None]
        return list(named) or [None]

    def ends_session(self, op_id: str) -> bool:
        auth = self.config.auth
        if auth is None:
            return False
        if auth.session_ending is not None:
            return any(match_operation(p, op_id) for p in auth.session_ending)
        method, _, path = op_id.partition(" ")
        if method in SAFE_METHODS:
            return False
        if _SESSION_WORDS.search(path):
            return True
        return method == "DELETE" and bool(_ACCOUNT_PATHS.search(path))

    def exchange(
        self,
        req: PreparedRequest,
        candidate_req: PreparedRequest | None = None,
        *,
        restore: bool = True,
    ) -> ExchangeResult:
        """Replay one request on both targets (see :meth:`_kept`), tallied for the proof
        per phase: a positive request, as a role that has succeeded on its operation before,
        is meant to succeed (a role's 401/403 probes are not)."""
        result = self._kept(req, candidate_req, restore=restore)
        try:
            op = self.contract.get(req.operation)
        except (KeyError, HarnessError):
            return result
        role = (req.role or "anonymous").split("#", 1)[0]
        phase = self.phase.split(":", 1)[0]
        ok = self.stats.succeeded(op, result.legacy.status, result.candidate.status)
        if (
            phase in PROOF_PHASES
            and req.mode == "positive"
            and (op.id, role) in self.stats.ok_roles
        ):
            tally = self.stats.meant.setdefault(phase, Counter())
            tally["sent"] += 1
            tally["succeeded"] += int(ok)
        if ok:
            self.stats.ok_roles.add((op.id, role))
            if (
                req.mode == "positive"
                and phase in ("stateless", "rows")
                and "#" not in (req.role or "")
            ):
                kept = self.stats.successes.setdefault((op.id, role), [])
                if len(kept) < SUCCESSES_KEPT:
                    kept.append((req, candidate_req))
        return result

    def _kept(
        self,
        req: PreparedRequest,
        candidate_req: PreparedRequest | None = None,
        *,
        restore: bool = True,
    ) -> ExchangeResult:
        """Replay one request on both targets, keeping the roles' sessions alive.

        A case that can end its caller's session runs on a session of its own, unless a
        restore follows it (managed mode: the restore brings the session back). A role whose
        request answers 401 on both sides is logged in again and the request sent once more
        (counted in ``stats.renewals``); a session renewed where a restore will follow is put
        back by that restore (``Pair.reinstate``), since the restore removes the new one.
        """
        if not self.pair.in_sequence:
            self.pair.settle()  # URL mode: a reset, if an earlier write could show
        role = req.role
        if self.sessions.renew_due(role) and role is not None:  # its token's life is ending
            self.stats.renewals[role] += 1
        # managed mode: a restore right after this case brings an ended session back
        kept = bool(self.pair.watchers) and restore and not self.pair.in_sequence
        own_session = (
            role is not None and "#" not in role and not kept and self.ends_session(req.operation)
        )
        if own_session and role is not None:
            with self.sessions.own(role) as key:
                own = replace(req, role=key)
                cand = replace(candidate_req, role=key) if candidate_req else None
                return self._exchange(own, cand, restore=restore)
        result = self._exchange(req, candidate_req, restore=restore)
        if role is not None and role in self.pair.fixed:
            if req.mode == "positive":  # a fixed token is not renewed: its 401s are reported
                refused = self.stats.fixed_refused.setdefault(role, Counter())
                for side, status in (
                    ("legacy", result.legacy.status),
                    ("candidate", result.candidate.status),
                ):
                    refused[side] += status == 401
            return result
        if (
            role is not None
            and "#" not in role
            and not kept
            and 401 in (result.legacy.status, result.candidate.status)
            # one side's token ended first: only a read may be sent again
            and (result.legacy.status == result.candidate.status or req.method in ("GET", "HEAD"))
            and self._futile[req.operation] < 2
            and self.config.auth is not None
            and role in self.config.auth.roles
        ):
            saved = {key: t.tokens.get(role) for key, t in self.pair.targets.items()}
            try:
                self.sessions.renew(role)
            except HarnessError:  # the role cannot log in again: the 401s stand
                for key, token in saved.items():
                    if token is not None:
                        self.pair.targets[key].tokens[role] = token
                self._futile[req.operation] += 1
                return result
            again = self._exchange(req, candidate_req, restore=restore)
            if (again.legacy.status, again.candidate.status) != (401, 401) and (
                result.legacy.status == result.candidate.status
                or 401 not in (again.legacy.status, again.candidate.status)
            ):
                self.stats.renewals[role] += 1
                if self.pair.watchers:  # the next restore removes the new session
                    for key, token in saved.items():
                        if token is not None:
                            self.pair.reinstate.setdefault((key, role), token)
                return again
            # the 401 was the operation's own answer (a login with bad credentials): keep the
            # old session, which a restore keeps alive, not the new one a restore removes
            for key, token in saved.items():
                if token is not None:
                    self.pair.targets[key].tokens[role] = token
            self._futile[req.operation] += 1
        return result

    def _exchange(
        self,
        req: PreparedRequest,
        candidate_req: PreparedRequest | None = None,
        *,
        restore: bool = True,
    ) -> ExchangeResult:
        """Replay one request on both targets; collect writes; check; restore; compare.

        ``restore=False`` (stateful steps): the databases keep this step's writes and the
        writes reported are everything since the last restore, so a sequence is compared
        as a whole; the invariants that need a step's own writes run only per step. With
        ``pair.stepwise`` (a replay) the writes reported are this request's own.
        """
        pair = self.pair
        if not self.noise.header_probed:
            self._learn_from_health()  # before the first comparison, whatever its method
        legacy, candidate, aa = pair.send(req, candidate_req, twin=restore)
        answers = {"legacy": legacy, "candidate": candidate}
        settled = pair.follow(req, answers | ({"legacy_aa": aa} if aa is not None else {}))
        self.stats.exchanges += 1
        clock, aa_clock = pair.clock(), pair.clock("legacy", "legacy_aa")
        pair.note_answers(req, legacy, candidate)
        if not restore:
            if not pair.in_sequence:
                self._sequence = []  # the state was restored since: a new sequence
            pair.in_sequence = True
        lw: Writes | None = None
        cw: Writes | None = None
        aw: Writes | None = None
        inv: list[Difference] = []
        if pair.watchers:
            keys = ["legacy", "candidate"] + (["legacy_aa"] if aa is not None else [])
            seen = pair.read_writes(keys)
            (lch, lw), (cch, cw) = seen["legacy"], seen["candidate"]
            aw = seen["legacy_aa"][1] if aa is not None else None
            if (lch or cch) and self.invariants.defs:
                inv = self.invariants.check(
                    req,
                    (legacy.status, candidate.status),
                    (lw, cw),
                    per_step=restore or pair.stepwise,
                    changed=(lch, cch),
                    earlier=(
                        pair.written_since.get("legacy", set()),
                        pair.written_since.get("candidate", set()),
                    ),
                )
            if restore:
                # its writes go with the restore
                asked = self._learn_headers(req, legacy, candidate_req)
                pair.restore(wrote=lch or cch or req.method not in SAFE_METHODS or asked)
        elif restore:
            self._learn_headers(req, legacy, candidate_req)
        started = time.perf_counter()
        rules = self.rules(req.operation, req)
        if pair.cross_engine:
            lw, cw = normalize_pair(lw, cw, pair.engines["legacy"], pair.engines["candidate"])
        cw = map_tables(cw, self.config.db.map)  # [[db.map]]: the legacy's table names

        def accepted(diff: Difference) -> bool:
            return self.findings.accepted(req.operation, diff, req)

        compare = self.config.compare
        if aa is not None:  # the A/A twin: the headers it disagrees on are noise from now on
            self._learned(f"{req.method} {req.path}", differing_headers(compare, legacy, aa))
        learned = self.noise.headers
        diffs = compare_exchange(
            legacy, candidate, lw, cw, rules, compare, clock, accepted, learned=learned
        )
        diffs = request_orders(req, legacy.body, candidate.body, diffs)
        if settled:  # background jobs: how they ended, under the poll operation's rules
            polled = next((s.path for s in settled.values() if s.path), None)
            poll_op = poll_operation(self.contract, polled) if polled else None
            job_rules = self.rules(poll_op, req) if poll_op else rules
            job = (job_rules, compare, clock, accepted)
            diffs += settled_differences(
                settled, "legacy", "candidate", *job, self.stats.jobs, learned=learned
            )
        if aa is not None:
            aa_diffs = compare_exchange(
                legacy, aa, lw, aw, rules, compare, aa_clock, accepted, learned=learned
            )
            if settled:
                aa_diffs += settled_differences(
                    settled, "legacy", "legacy_aa", *job, learned=learned
                )
            diffs = self.noise.suppress(req.operation, diffs, aa_diffs)
        elif self.noise.entries:  # no twin (a write kept): what already differed A/A
            diffs = self.noise.suppress_known(req.operation, diffs)
        # a sequence's writes are cumulative (its earlier steps can be their cause); stepwise
        # (a replay), each request's writes are its own
        earlier = self._sequence if not restore and not pair.stepwise else []
        diffs = [self.findings.scoped(req, d, earlier) for d in diffs]
        inv = [self.findings.scoped(req, d, earlier) for d in inv]
        if not restore and not pair.stepwise:
            self._sequence.append(req)
        pair.timings.compare += time.perf_counter() - started
        result = ExchangeResult(
            req, legacy, candidate, lw, cw, diffs + inv, candidate_request=candidate_req
        )
        self.stats.answered(
            req.operation,
            legacy,
            candidate,
            same=legacy.status != candidate.status
            and rules.same_status(legacy.status, candidate.status),
            phase=self.phase,
        )
        if self.on_exchange is not None:
            self.on_exchange(result)
        return result

    def _learn_headers(
        self, req: PreparedRequest, legacy: Response, candidate_req: PreparedRequest | None
    ) -> bool:
        """``[compare] learn_headers``: the first GET case of each operation is asked of the
        legacy a second time; the headers its two answers disagree on are noise (``"*"``
        leaves them out from now on). The candidate is asked again too (its answer unused),
        so whatever counts requests per side (a rate limit, a token's use budget) stays in
        step. Not with the A/A twin, which shows them on every request. True when the pair
        was asked again."""
        compare = self.config.compare
        if (
            not compare.learn_headers
            or "*" not in compare.headers
            or req.method != "GET"
            or legacy.status == 0
            or self.pair.has_twin
            or req.operation in self.noise.header_probed
        ):
            return False
        self.noise.header_probed.add(req.operation)
        again = self.pair.send_one("legacy", req)
        self.pair.send_one("candidate", candidate_req or req)  # the counts stay in step
        if again.status == legacy.status:
            self._learned(f"{req.method} {req.path}", differing_headers(compare, legacy, again))
        return True

    def _learn_from_health(self) -> None:
        """The legacy's health check asked twice before anything is compared: headers that
        vary on every answer (a request id, a timing) are learned before the first
        comparison, even one of a POST (whose cases are never asked twice)."""
        compare = self.config.compare
        self.noise.header_probed.add("")  # once per run
        service = self.config.services.get("legacy")
        if (
            not compare.learn_headers
            or "*" not in compare.headers
            or self.pair.has_twin
            or service is None
            or not service.health
        ):
            return
        path = service.health
        probe = PreparedRequest(
            operation=f"GET {path}",
            method="GET",
            path=path,
            query=(),
            headers=(),
            content=None,
            body=None,
            media_type=None,
            role=None,
            mode="probe",
        )
        try:
            first = self.pair.send_one("legacy", probe)
            again = self.pair.send_one("legacy", probe)
        except HarnessError:
            return  # the first exchange reports an unreachable legacy itself
        with contextlib.suppress(HarnessError):  # the first exchange reports that too
            for _ in range(2):  # asked as often as the legacy: counts per side stay in step
                self.pair.send_one("candidate", probe)
        if first.status == again.status and first.status:
            self._learned(f"GET {path}", differing_headers(compare, first, again))

    def _learned(self, where: str, differing: dict[str, str]) -> None:
        if not self.config.compare.learn_headers or not differing:
            return
        for name in self.noise.learn_headers(where, differing):
            self.stats.notes.append(
                f"header {name} not compared (learned noise: two answers of the legacy to one "
                f"request differed; {self.noise.headers[name]})"
            )

    def _accepted_input(self, op: Operation, result: ExchangeResult) -> None:
        """A negative case both sides accepted: listed when the request as sent really
        breaks the contract (not only in the credentials parity replaced)."""
        if op.api is None:
            return
        broken = violations(op.api.definition.raw, self.contract.raw, result.request)
        if broken:
            seen = self.stats.accepted_inputs.setdefault(op.id, [0, result, broken])
            seen[0] += 1
            if result.request.size < seen[1].request.size:
                seen[1:] = [result, broken]

    def replay_all(
        self,
        label: str,
        op: Operation,
        cases: list[PreparedRequest],
        phase: str = "stateless",
        candidates: list[PreparedRequest | None] | None = None,
        after_write: AfterWrite | None = None,
        groups: list[str | None] | None = None,
    ) -> dict[str, GroupTally]:
        """The stateless loop over ``cases`` of one operation (or of the probes);
        ``candidates[i]``, where set, is what the candidate gets instead of ``cases[i]``;
        ``after_write`` follows the writes it wants before their restore (reads after writes).
        ``groups[i]`` names the group of ``cases[i]`` (the rows phase: a row state): returned
        per group, what the proof counted and how the legacy answered."""
        stats = self.stats.op(op)
        tallies: dict[str, GroupTally] = {}
        self.listener.operation_started(OperationStarted(label=label, total=len(cases)))
        for index, req in enumerate(cases):
            own = candidates[index] if candidates and index < len(candidates) else None
            follow = after_write is not None and after_write.wants(op, req)
            group = groups[index] if groups and index < len(groups) else None
            meant = self.stats.meant.setdefault(self.phase.split(":", 1)[0], Counter())
            before = (meant["sent"], meant["succeeded"])
            result = self.exchange(req, own, restore=not follow)
            if group is not None:
                tally = tallies.setdefault(group, GroupTally())
                tally.sent += meant["sent"] - before[0]
                tally.succeeded += meant["succeeded"] - before[1]
                tally.legacy[result.legacy.status] += 1
            agreed = not self.findings.live(result)
            stats.add(result, agreed)
            if req.mode == "positive":
                self.stats.positive.setdefault(op.id, Counter())[result.legacy.status] += 1
            if req.mode == "negative" and all(
                200 <= r.status < 300 for r in (result.legacy, result.candidate)
            ):
                self._accepted_input(op, result)
            self.findings.record(result, phase)
            if follow and after_write is not None:
                after_write.follow(op, result)  # restores when done
            self.listener.case_done(CaseDone(label=label, agreed=agreed))
            if index % 25 == 24:
                self.pair.check_alive()
        return tallies
