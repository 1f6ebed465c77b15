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
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from harness.setup.contract import Contract, Operation
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import Capture, Exchange, Pseudonymizer
from harness.traffic.snapshot import CaptureSnapshot, resolve_snapshot

__all__ = ["IdMap", "Router", "TimeShift", "TrafficPlan", "caller_roles", "load_plan"]

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
# a captured WebSocket subscription is opened again on both sides, as its caller's role, for
# the whole replay (``TrafficPlan.subscriptions``), unless `[traffic] streams = false`
SUBSCRIPTIONS_SKIPPED = (
    "realtime subscriptions (WebSocket upgrades: not opened, [traffic] streams = false; a run "
    "with [realtime] compares the channel)"
)
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


@dataclass(frozen=True)
class Subscribed:
    """A captured subscription: the replay opens its channel on both sides, as its role."""

    entry: str  # "<file>#<seq>" of the first subscription of this path and role
    path: str  # the channel's path on the services (the base path taken off, no query)
    role: str | None


@dataclass
class TrafficPlan:
    """The captures routed to the contract: what will be replayed, and what cannot be."""

    steps: list[Step]
    skipped: Counter[str]
    snapshot: str | None
    started: datetime | None

    warnings: list[str] = field(default_factory=list)
    captures: dict[str, Capture] = field(default_factory=dict)  # an entry's file name -> it
    start: CaptureSnapshot | None = None  # managed mode: where both sides start (resolved)
    # the channels the traffic subscribed to, one per path and role, in capture order
    subscriptions: list[Subscribed] = field(default_factory=list)

    def only(self, entries: set[str]) -> TrafficPlan:
        """The part of the replay a shard runs: these capture entries, in capture order."""
        return replace(self, steps=[s for s in self.steps if s.entry in entries])

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
        by_caller = caller_roles(settings, roles, role_identities, pseudonyms)
        default = settings.role or (roles[0] if roles else None)
        steps: list[Step] = []
        skipped: Counter[str] = Counter()
        subscribed: dict[tuple[str, str | None], Subscribed] = {}
        base = base_path.rstrip("/")

        def role_of(ex: Exchange) -> str | None:
            credentialed = any(
                k.lower() in ("authorization", "cookie") for k, _ in ex.request.headers
            )
            if ex.caller is not None:
                return by_caller.get(ex.caller, default)
            return default if credentialed else None

        for cap in captures:
            name = Path(cap.source).name
            for ex in cap.exchanges:
                if ex.request.websocket:
                    if not settings.streams:
                        skipped[SUBSCRIPTIONS_SKIPPED] += 1
                        continue
                    path = ex.request.path
                    if base and path.startswith(base):
                        path = path[len(base) :] or "/"
                    role = role_of(ex)
                    subscribed.setdefault((path, role), Subscribed(f"{name}#{ex.seq}", path, role))
                    continue
                hit = router.match(ex.request.method, ex.request.path)
                if hit is None:
                    skipped["not in the contract"] += 1
                    continue
                op, params = hit
                if skip(op.id):
                    skipped["a session operation (the replay uses the roles' sessions)"] += 1
                    continue
                steps.append(Step(f"{name}#{ex.seq}", ex, op, params, role_of(ex)))
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
        return cls(
            steps,
            skipped,
            snapshot,
            min(starts) if starts else None,
            warnings,
            {Path(c.source).name: c for c in captures},
            subscriptions=list(subscribed.values()),
        )


def caller_roles(
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


def session_operation(config: Any, op_id: str) -> bool:
    """Logins and logouts are not replayed: every caller replays on a configured role's
    session, and a captured login carries no password."""
    auth = config.auth
    if auth is not None and op_id in (*auth.login_operations(), auth.logout):
        return True
    method, _, path = op_id.partition(" ")
    return method not in ("GET", "HEAD", "OPTIONS") and bool(_LOGOUT.search(path))


def role_identities(config: Any, fields: tuple[str, ...]) -> dict[str, str]:
    """Each role's user, as its login body names it (``email``, ``username``, ...)."""
    out: dict[str, str] = {}
    if config.auth is None:
        return out
    for role, rc in config.auth.roles.items():
        norm = {k.lower().replace("_", ""): v for k, v in (rc.body or {}).items()}
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
    plan = TrafficPlan.build(
        captures,
        engine.contract,
        base,
        roles,
        settings,
        role_identities(config, IDENTITY_FIELDS),
        lambda op_id: session_operation(config, op_id),
        pseudonyms if keyed else None,
    )
    if engine.mode == "managed":  # a snapshot that resolves to nothing: exit 2, nothing started
        plan.start = resolve_snapshot(captures, config)
    return plan
