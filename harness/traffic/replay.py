"""Replay captured traffic as a phase: every request in capture order on both sides, with no
restore in between (both go through the same sequence of states), writes diffed per request.

Per request: the captured caller becomes a configured role's session; ids the traffic
learned from an answer are rewritten, per side, to the ids that side's replay answer gave;
time values are moved by the distance between capture and replay; the legacy's answer is
compared with the captured one (a difference is drift of the environment, never the port's).
A difference that an earlier request's differing writes explain is attributed to it."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from harness.context import RunContext
from harness.contract import Contract, Operation
from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest
from harness.results import CaseDone, OperationStarted
from harness.traffic.capture import REDACTED, Capture, Exchange, Pseudonymizer
from harness.traffic.settings import TrafficConfig

__all__ = ["IdMap", "Replay", "Router", "TimeShift", "TrafficPlan"]

LABEL = "traffic replay"
# headers a replay never copies: credentials (the role's session replaces them), framing
# the client library sets itself, and the hop-by-hop ones
_SKIP_HEADERS = frozenset(
    {
        "authorization",
        "cookie",
        "host",
        "content-length",
        "connection",
        "transfer-encoding",
        "accept-encoding",
        "keep-alive",
        "te",
        "upgrade",
        "proxy-authorization",
    }
)
_ID_KEY = re.compile(r"(^id$|^ids$|Ids?$|_ids?$|ID$)")
_ROW_KEY = re.compile(r"\[\w+=([^\]]+)\]")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$")
ENTRY_HEADER = "x-parity-capture"
_LOGOUT = re.compile(r"log-?out|sign-?out", re.IGNORECASE)


def _id_key(name: str) -> bool:
    return bool(_ID_KEY.search(name))


# -- operations --------------------------------------------------------------------------------


class Router:
    """A captured method and path to the contract operation and its path parameters: literal
    paths before templated ones, fewer parameters first."""

    def __init__(self, contract: Contract, base_path: str) -> None:
        self.base = base_path.rstrip("/")
        routes: list[tuple[int, int, Operation, re.Pattern[str], list[str]]] = []
        for op in contract.operations:
            names = re.findall(r"{([^}]+)}", op.path)
            literal = re.split(r"{[^}]+}", op.path)
            pattern = "([^/]+)".join(re.escape(part) for part in literal)
            routes.append((len(names), -len(op.path), op, re.compile(f"^{pattern}$"), names))
        routes.sort(key=lambda r: (r[0], r[1]))
        self.routes = [(op, rx, names) for _, _, op, rx, names in routes]

    def match(self, method: str, path: str) -> tuple[Operation, tuple[tuple[str, str], ...]] | None:
        if self.base and path.startswith(self.base):
            path = path[len(self.base) :] or "/"
        for op, rx, names in self.routes:
            if op.method != method.upper():
                continue
            hit = rx.match(path)
            if hit:
                values = [unquote(v) for v in hit.groups()]
                return op, tuple(zip(names, values, strict=True))
        return None


# -- ids and time ------------------------------------------------------------------------------


@dataclass
class IdMap:
    """Per side: an id as the captured answers gave it -> the id that side's replay gave."""

    sides: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"legacy": {}, "candidate": {}}
    )

    learned_from: Counter[str] = field(default_factory=Counter)  # key names ids came from

    def learn(self, captured: Any, side: str, replayed: Any, key: str = "") -> None:
        if isinstance(captured, dict) and isinstance(replayed, dict):
            for k, v in captured.items():
                if k in replayed:
                    self.learn(v, side, replayed[k], k)
        elif isinstance(captured, list) and isinstance(replayed, list):
            if len(captured) == len(replayed):
                for a, b in zip(captured, replayed, strict=True):
                    self.learn(a, side, b, key)
        elif (
            _id_key(key)
            and isinstance(captured, (int, str))
            and not isinstance(captured, bool)
            and type(captured) is type(replayed)
            and captured != replayed
        ):
            self.sides[side][str(captured)] = replayed
            self.learned_from[key] += 1

    def count(self) -> int:
        return sum(len(m) for m in self.sides.values())

    def path(self, side: str, path: str) -> str:
        known = self.sides[side]
        if not known:
            return path
        parts = path.split("/")
        for n, part in enumerate(parts):
            value = unquote(part)
            if value in known:
                parts[n] = quote(str(known[value]), safe="")
        return "/".join(parts)

    def query(self, side: str, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        known = self.sides[side]
        return [(k, str(known[v]) if _id_key(k) and v in known else v) for k, v in pairs]

    def body(self, side: str, value: Any, key: str = "") -> Any:
        known = self.sides[side]
        if not known:
            return value
        if isinstance(value, dict):
            return {k: self.body(side, v, k) for k, v in value.items()}
        if isinstance(value, list):
            return [self.body(side, v, key) for v in value]
        if _id_key(key) and isinstance(value, (int, str)) and not isinstance(value, bool):
            hit = known.get(str(value))
            if hit is not None:
                return hit if isinstance(value, int) == isinstance(hit, int) else str(hit)
        return value


@dataclass(frozen=True)
class TimeShift:
    """Moves ISO 8601 times and dates by ``delta`` (replay start - capture start), keeping
    each value's own format (fraction digits, ``Z``, date only)."""

    delta: timedelta

    def value(self, text: str) -> str:
        if not self.delta or not _STAMP.match(text):
            return text
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
        moved = stamp + self.delta
        if "T" not in text:
            return moved.date().isoformat()
        frac = re.search(r"\.(\d+)", text)
        spec = "seconds"
        if frac:
            spec = "milliseconds" if len(frac.group(1)) <= 3 else "microseconds"
        elif text.count(":") == 1 or (text.endswith("Z") and text.count(":") == 1):
            spec = "minutes"
        out = moved.isoformat(timespec=spec)
        return out.replace("+00:00", "Z") if text.endswith("Z") else out

    def body(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.body(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.body(v) for v in value]
        return self.value(value) if isinstance(value, str) else value


# -- the plan ----------------------------------------------------------------------------------


@dataclass
class Step:
    entry: str  # "<file>#<seq>": the capture entry this request came from
    exchange: Exchange
    op: Operation
    path_params: tuple[tuple[str, str], ...]
    role: str | None


@dataclass
class TrafficPlan:
    """The captures routed to the contract: what will be replayed, and what cannot be."""

    steps: list[Step]
    skipped: Counter[str]
    snapshot: str | None
    started: datetime | None

    warnings: list[str] = field(default_factory=list)

    @property
    def operations(self) -> set[str]:
        """The operations the replay must prove: those the traffic saw succeed (an operation
        it only saw refused cannot be proven by replaying it)."""
        return {
            s.op.id
            for s in self.steps
            if s.exchange.answer is None or 200 <= s.exchange.answer.status < 300
        }

    @classmethod
    def build(
        cls,
        captures: list[Capture],
        contract: Contract,
        base_path: str,
        roles: list[str],
        settings: TrafficConfig,
        role_identities: dict[str, str],
        skip: Callable[[str], bool],
        pseudonyms: Pseudonymizer | None = None,
    ) -> TrafficPlan:
        router = Router(contract, base_path)
        by_caller = _caller_roles(settings, roles, role_identities, pseudonyms)
        default = settings.role or (roles[0] if roles else None)
        steps: list[Step] = []
        skipped: Counter[str] = Counter()
        for cap in captures:
            name = Path(cap.source).name
            for ex in cap.exchanges:
                hit = router.match(ex.request.method, ex.request.path)
                if hit is None:
                    skipped["not in the contract"] += 1
                    continue
                op, params = hit
                if skip(op.id):
                    skipped["a session operation (the replay uses the roles' sessions)"] += 1
                    continue
                credentialed = any(
                    k.lower() in ("authorization", "cookie") for k, _ in ex.request.headers
                )
                if ex.caller is not None:
                    role = by_caller.get(ex.caller, default)
                else:
                    role = default if credentialed else None
                steps.append(Step(f"{name}#{ex.seq}", ex, op, params, role))
        warnings = []
        keys = {c.header.key_id for c in captures if c.header.key_id} - {None}
        mine = pseudonyms.key_id if pseudonyms is not None else None
        if any(s.exchange.caller for s in steps) and keys and mine not in keys:
            warnings.append(
                f"traffic: the capture's callers were made with pseudonym key "
                f"{', '.join(sorted(str(k) for k in keys))}, and $PARITY_TRAFFIC_KEY is "
                f"{'key ' + mine if mine else 'unset'}: no caller matches a role's user, every "
                f"caller replays as {default!r}"
            )
        starts = [s.exchange.timings.started for s in steps]
        snapshot = next((c.header.snapshot for c in captures if c.header.snapshot), None)
        return cls(steps, skipped, snapshot, min(starts) if starts else None, warnings)


def _caller_roles(
    settings: TrafficConfig,
    roles: list[str],
    role_identities: dict[str, str],
    pseudonyms: Pseudonymizer | None,
) -> dict[str, str]:
    """Captured pseudonym -> role: the explicit rules, then each role's own login identity
    (a captured caller who is the configured role's user replays as that role)."""
    out: dict[str, str] = {}
    if pseudonyms is not None:
        for role, identity in role_identities.items():
            if role in roles:
                out[pseudonyms(identity)] = role
        for rule in settings.callers:
            if rule.identity is not None:
                out[pseudonyms(rule.identity)] = rule.role
    for rule in settings.callers:
        if rule.caller is not None:
            out[rule.caller] = rule.role
    return out


# -- the phase ---------------------------------------------------------------------------------


def _json(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _shape(value: Any, prefix: str = "$") -> set[str]:
    """Key paths of a JSON value, arrays collapsed: what an answer looks like, not its values."""
    if isinstance(value, dict):
        out = {prefix}
        for k, v in value.items():
            out |= _shape(v, f"{prefix}.{k}")
        return out
    if isinstance(value, list):
        out = {prefix + "[]"}
        for v in value[:20]:
            out |= _shape(v, prefix + "[*]")
        return out
    return {prefix}


@dataclass
class Replay:
    """The phase (``parity run --traffic FILE``)."""

    plan: TrafficPlan
    settings: TrafficConfig = field(default_factory=TrafficConfig)
    name: str = "traffic"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    figures: dict[str, Any] = field(default_factory=dict)
    _base: str = ""

    def _request(self, step: Step, side: str, ids: IdMap, shift: TimeShift) -> PreparedRequest:
        req = step.exchange.request
        kept = [
            (k, v)
            for k, v in req.headers
            if k.lower() not in _SKIP_HEADERS and v != REDACTED and not k.startswith(":")
        ]
        headers = (*kept, (ENTRY_HEADER, step.entry))
        media = next((v for k, v in req.headers if k.lower() == "content-type"), None)
        if media is None and req.body is not None:
            media = req.body.media_type
        content: bytes | None = None
        body: Any = NOT_SET
        if req.body is not None:
            content = req.body.content()
            decoded = req.body.decoded() if req.body.text is not None else None
            if decoded is not None and "json" in (media or "json"):
                body = shift.body(ids.body(side, decoded))
                content = json.dumps(body, separators=(",", ":")).encode("utf-8")
        query = tuple((k, shift.value(v)) for k, v in ids.query(side, req.query))
        path = ids.path(side, req.path)
        base = self._base
        if base and path.startswith(base):
            path = path[len(base) :] or "/"
        params = tuple((k, str(ids.sides[side].get(v, v))) for k, v in step.path_params)
        return PreparedRequest(
            operation=step.op.id,
            method=req.method,
            path=path,
            query=query,
            headers=headers,
            content=content,
            body=body,
            media_type=media.split(";")[0].strip() if media else None,
            role=step.role,
            mode="positive",
            shrinkable=False,
            path_params=params,
        )

    def execute(self, ctx: RunContext) -> None:
        plan = self.plan
        self._base = (
            ctx.config.base_path if ctx.config.base_path is not None else ctx.contract.base_path
        ).rstrip("/")
        ctx.stats.warnings.extend(plan.warnings)
        for why, n in sorted(plan.skipped.items()):
            ctx.stats.notes.append(f"traffic: {n} captured requests not replayed: {why}")
        if not plan.steps:
            ctx.stats.warnings.append("traffic: no captured request matched the contract")
            ctx.stats.incomplete.append("the traffic replayed no request")
            return
        if plan.snapshot:
            ctx.stats.notes.append(
                f"traffic: the capture names snapshot {plan.snapshot!r}; both sides replayed "
                "from the configured snapshot"
            )
        ctx.pair.restore()  # both sides from the snapshot, then never restored until the end
        started = time.perf_counter()
        shift = TimeShift(self.now() - plan.started if plan.started else timedelta(0))
        ids = IdMap()
        drift: Counter[str] = Counter()
        drift_examples: dict[str, str] = {}
        not_found = 0
        seen_at: dict[str, str] = {}  # a difference's concrete place -> the entry first showing it
        tainted: dict[str, str] = {}  # a row key value written differently -> that entry
        attributed = 0
        ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(plan.steps)))
        try:
            for n, step in enumerate(plan.steps):
                lreq = self._request(step, "legacy", ids, shift)
                creq = self._request(step, "candidate", ids, shift)
                result = ctx.exchange(lreq, creq if creq != lreq else None, restore=False)
                answer = step.exchange.answer
                captured = _json(answer.body.text) if answer and answer.body else None
                if lreq.method not in ("GET", "HEAD", "OPTIONS") and answer is not None:
                    # ids the traffic learned: from what a write created (its answer)
                    for side, resp in (("legacy", result.legacy), ("candidate", result.candidate)):
                        if 200 <= answer.status < 300 and 200 <= resp.status < 300:
                            ids.learn(captured, side, resp.body)
                if answer is not None:
                    what = self._environment(answer.status, captured, result)
                    if what:
                        key = f"{step.op.id}: {what}"
                        drift[key] += 1
                        drift_examples.setdefault(key, step.entry)
                if result.legacy.status == 404 and result.candidate.status == 404:
                    not_found += 1
                fresh = self._attribute(step, result, seen_at, tainted)
                attributed += len(result.differences) - len(fresh)
                result = ExchangeResult(
                    result.request,
                    result.legacy,
                    result.candidate,
                    result.legacy_writes,
                    result.candidate_writes,
                    fresh,
                    candidate_request=result.candidate_request,
                )
                agreed = not ctx.findings.live(result)
                ctx.stats.op(step.op).add(result, agreed)
                ctx.findings.record(result, "traffic")
                ctx.listener.case_done(CaseDone(label=LABEL, agreed=agreed))
                if n % 25 == 24:
                    ctx.pair.check_alive()
        finally:
            ctx.pair.restore()
        elapsed = time.perf_counter() - started
        total = len(plan.steps)
        self.figures = {
            "requests": total,
            "seconds": round(elapsed, 3),
            "pairs_per_s": round(total / elapsed, 1) if elapsed else 0.0,
            "ids_mapped": ids.count(),
            "environment_drift": sum(drift.values()),
            "not_found_both": not_found,
            "attributed": attributed,
            "time_shift_s": round(shift.delta.total_seconds()),
        }
        ctx.stats.notes.append(
            f"traffic: replayed {total} requests in {elapsed:.1f}s "
            f"({self.figures['pairs_per_s']} pairs/s), {ids.count()} ids mapped "
            f"({', '.join(f'{k} x{v}' for k, v in ids.learned_from.most_common(5))}), "
            f"times moved by {shift.delta}"
        )
        if attributed:
            ctx.stats.notes.append(
                f"traffic: {attributed} later differences on rows an earlier request wrote "
                "differently were attributed to that request (its finding)"
            )
        if drift:
            listed = "; ".join(
                f"{k} x{v} (first {drift_examples[k]})" for k, v in drift.most_common(8)
            )
            ctx.stats.warnings.append(
                f"traffic: environment drift, not the port's: {sum(drift.values())} of {total} "
                f"requests answered differently on the legacy than when captured (the snapshot "
                f"is not the state the traffic saw): {listed}"
            )
        if not_found > total * self.settings.unproven_share:
            message = (
                f"traffic: {not_found} of {total} replayed requests answered 404 on both sides: "
                "the replay found nothing to act on and proves nothing (does the snapshot hold "
                "the rows the traffic used?)"
            )
            ctx.stats.warnings.append(message)
            ctx.stats.incomplete.append(message)

    @staticmethod
    def _environment(status: int, captured: Any, result: ExchangeResult) -> str | None:
        """How the legacy's replay answer differs from the captured one, if it does."""
        now = result.legacy
        if status != now.status:
            return f"captured {status}, legacy now {now.status}"
        if (
            captured is not None
            and isinstance(now.body, (dict, list))
            and _shape(captured) != _shape(now.body)
        ):
            return "captured body has another shape"
        return None

    @staticmethod
    def _attribute(
        step: Step,
        result: ExchangeResult,
        seen_at: dict[str, str],
        tainted: dict[str, str],
    ) -> list[Difference]:
        """Writes are compared since the start of the replay, so a row one request wrote
        differently still differs afterwards: such a difference, and a later body difference
        on a request naming that row, belong to the first request that showed it."""
        fresh: list[Difference] = []
        named = {unquote(p) for p in step.exchange.request.path.split("/") if p}
        named |= {v for _, v in step.exchange.request.query}
        for diff in result.differences:
            db = diff.location.startswith("db:")
            if db:
                first = seen_at.get(diff.path)
            else:
                first = next((tainted[v] for v in named if v in tainted), None)
            if first is not None and first != step.entry:
                continue
            if db:
                seen_at.setdefault(diff.path, step.entry)
                for value in _ROW_KEY.findall(diff.path):
                    tainted.setdefault(value, step.entry)
            fresh.append(diff)
        return fresh


def session_operation(config: Any, op_id: str) -> bool:
    """Logins and logouts are not replayed: every caller replays on a configured role's
    session, and a captured login carries no password."""
    auth = config.auth
    if auth is not None and op_id in (auth.login, auth.logout):
        return True
    method, _, path = op_id.partition(" ")
    return method not in ("GET", "HEAD", "OPTIONS") and bool(_LOGOUT.search(path))


def role_identities(config: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """Each role's user, as its login body names it (``email``, ``username``, ...)."""
    out: dict[str, str] = {}
    if config.auth is None:
        return out
    for role, rc in config.auth.roles.items():
        norm = {k.lower().replace("_", ""): v for k, v in rc.body.items()}
        for f in fields:
            if isinstance(norm.get(f), str):
                out[role] = norm[f]
                break
    return out


def load_plan(engine: Any) -> TrafficPlan:
    """Read ``--traffic`` files (broken entries: exit 2 naming them, unless ``--keep-going``)
    and route them to the engine's contract."""
    from harness.traffic.capture import Redactor
    from harness.traffic.har import IDENTITY_FIELDS, read_traffic

    config = engine.config
    settings: TrafficConfig = config.traffic
    pseudonyms = Pseudonymizer.from_env()
    redactor = Redactor.build(
        pseudonyms,
        headers=settings.redact_headers,
        fields=settings.redact_fields,
        personal=settings.pseudonymize,
    )
    captures = []
    for path in engine.options.traffic:
        cap = read_traffic(path, redactor, keep_going=engine.options.keep_going)
        for problem in cap.problems:
            engine.listener.message(f"traffic: skipped {problem}")
        captures.append(cap)
    # callers map to any configured role; the default is one of the roles cases are sent as
    roles = [r for r in config.role_names(engine.profile) if r is not None]
    roles += [r for r in (config.auth.roles if config.auth else {}) if r not in roles]
    keyed = "PARITY_TRAFFIC_KEY" in __import__("os").environ
    base = config.base_path if config.base_path is not None else engine.contract.base_path
    return TrafficPlan.build(
        captures,
        engine.contract,
        base,
        roles,
        settings,
        role_identities(config, IDENTITY_FIELDS),
        lambda op_id: session_operation(config, op_id),
        pseudonyms if keyed else None,
    )
