"""``parity traffic reduce``: a representative part of a capture. A request is kept when it
adds coverage (operation x role x status x response shape x parameters) or answered 5xx
(``--coverage``: or ran code of the port no other kept request ran), then every earlier
write that created or changed a row a kept request names (the dependency closure: id chains
stay whole) and the login that opened each kept request's session; the rest repeats what
is kept."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.setup.contract import Contract
from harness.traffic.capture import Capture, Exchange
from harness.traffic.gaps import undeclared_header
from harness.traffic.replay import Router, _shape

__all__ = ["Reduction", "chain", "reduce_capture"]

_ID_KEY = re.compile(r"(^id$|Id$|_id$)")
Signature = tuple[str, str | None, int, str, tuple[str, ...]]
Unit = tuple[str | None, int]  # (caller, session number)
_LOGIN = re.compile(r"log-?in|sign-?in|/auth/token$|/sessions?$", re.IGNORECASE)


def _ids_created(ex: Exchange) -> set[str]:
    if ex.request.method in ("GET", "HEAD", "OPTIONS") or ex.answer is None:
        return set()
    if not 200 <= ex.answer.status < 300 or ex.answer.body is None:
        return set()
    body = ex.answer.body.decoded()
    out: set[str] = set()
    if isinstance(body, dict):
        for k, v in body.items():
            if _ID_KEY.search(k) and isinstance(v, (int, str)) and not isinstance(v, bool):
                out.add(str(v))
    return out


def _ids_used(ex: Exchange, router: Router | None = None) -> set[str]:
    """Ids a request names: its path parameters (the route's literal segments are not ids),
    id-named query parameters and body fields."""
    hit = router.match(ex.request.method, ex.request.path) if router is not None else None
    if hit is not None:
        used = {value for _, value in hit[1]}
    else:
        used = {p for p in ex.request.path.split("/") if p}
    used |= {v for k, v in ex.request.query if _ID_KEY.search(k)}
    body = ex.request.body.decoded() if ex.request.body is not None else None

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif _ID_KEY.search(key) and isinstance(value, (int, str)) and not isinstance(value, bool):
            used.add(str(value))

    walk(body)
    return used


@dataclass
class Reduction:
    capture: Capture
    kept_callers: list[str | None]
    dropped_callers: list[str | None]
    signatures: int
    total: int
    sessions_kept: int = 0
    sessions: int = 0
    # --coverage: requests kept because they ran code of the port no other kept one ran, and
    # the requests their id chains and logins added (None: coverage was not measured)
    for_coverage: int | None = None
    for_coverage_closure: int = 0

    def summary(self) -> str:
        kept = len(self.capture.exchanges)
        ratio = kept / self.total if self.total else 0.0
        return (
            f"kept {kept} of {self.total} exchanges ({ratio:.0%}), "
            f"{self.sessions_kept} of {self.sessions} caller sessions, "
            f"{len(self.kept_callers)} of {len(self.kept_callers) + len(self.dropped_callers)} "
            f"callers; {self.signatures} distinct (operation, role, status, shape, parameters) all "
            f"covered, every 5xx kept; "
            + (
                f"{self.for_coverage} kept for coverage of the port "
                f"(+{self.for_coverage_closure} they need); "
                if self.for_coverage is not None
                else ""
            )
            + "dropped callers: "
            + (", ".join(str(c) for c in self.dropped_callers) or "none")
        )


def _units(capture: Capture) -> list[Unit]:
    """Each exchange's sampling unit: its caller's session (a login starts a new one), so a
    capture with few users still reduces while a session's id chain stays whole."""
    sessions: dict[str | None, int] = defaultdict(int)
    started: set[str | None] = set()
    out: list[Unit] = []
    for ex in capture.exchanges:
        login = ex.request.method == "POST" and bool(_LOGIN.search(ex.request.path))
        if login and ex.caller in started:
            sessions[ex.caller] += 1
        started.add(ex.caller)
        out.append((ex.caller, sessions[ex.caller]))
    return out


def _shape_signature(body: Any) -> str:
    """An answer's shape, coarse enough that items differing in an optional field or in a
    free-form JSON column do not each count as new: key paths two levels deep."""
    paths = sorted(p for p in _shape(body) if p.count(".") <= 2)
    return hashlib.sha1(json.dumps(paths).encode()).hexdigest()[:10]


def _signature(
    ex: Exchange, router: Router, roles: dict[str, str], default_role: str | None
) -> Signature:
    """Operation x role x status x response shape x parameters (the query's names, a JSON
    body's top-level fields and the names of the request headers that are not standard or
    transport ones, such as ``Prefer``, which can change the answer): what one request adds
    to what a replay covers. Header values are left out (an idempotency key is new on every
    request)."""
    hit = router.match(ex.request.method, ex.request.path)
    op = hit[0].id if hit else f"{ex.request.method} {ex.request.path}"
    status = ex.answer.status if ex.answer else 0
    body = ex.answer.body.decoded() if ex.answer and ex.answer.body else None
    shape = _shape_signature(body) if body is not None else ""
    role = roles.get(ex.caller, default_role) if ex.caller is not None else None
    sent = ex.request.body.decoded() if ex.request.body is not None else None
    fields = [f"body.{k}" for k in sent] if isinstance(sent, dict) else []
    headers = {f"header.{k.lower()}" for k, _ in ex.request.headers if undeclared_header(k)}
    params = tuple(sorted({k for k, _ in ex.request.query} | set(fields) | headers))
    return (op, role, status, shape, params)


def reduce_capture(
    capture: Capture,
    contract: Contract,
    base_path: str,
    roles: dict[str, str] | None = None,
    default_role: str | None = None,
    covered: Mapping[int, frozenset[Any]] | None = None,
) -> Reduction:
    """A request is kept when it adds a signature (``_signature``; ``roles``: caller
    pseudonym -> the role it replays as, so a reader's GET and an admin's are not one) or
    answered 5xx; then, transitively, every earlier successful write that created or changed
    a row a kept request names (its id chain), and the login that opened each kept
    request's session. ``covered`` (capture seq -> what its request ran of the port, e.g.
    coverage.py arcs) keeps, in capture order, each further request that ran something no
    kept request ran, with its own closure. Everything else repeats what is kept."""
    roles = roles or {}
    router = Router(contract, base_path)
    units = _units(capture)
    exchanges = capture.exchanges
    keep: set[int] = set()
    seen: set[Signature] = set()
    writers: dict[str, list[int]] = defaultdict(list)  # an id -> the writes naming it
    opened: dict[Unit, int] = {}  # a session -> the login that opened it
    for i, (ex, unit) in enumerate(zip(exchanges, units, strict=True)):
        if ex.request.websocket:
            keep.add(i)  # a subscription: the replay follows its channel (one per caller)
            continue
        sig = _signature(ex, router, roles, default_role)
        status = sig[2]
        login = bool(_LOGIN.search(ex.request.path)) and ex.request.method == "POST"
        if login:
            opened.setdefault(unit, i)
        if sig not in seen or status >= 500:
            keep.add(i)
            seen.add(sig)
        write = ex.request.method not in ("GET", "HEAD", "OPTIONS")
        if write and 200 <= status < 300 and not login:
            for value in _ids_created(ex) | _ids_used(ex, router):
                writers[value].append(i)

    def close(start: set[int]) -> set[int]:
        """``start`` with the id chains its requests stand on and their sessions' logins."""
        out = set(start)
        pending = sorted(out)
        while pending:
            i = pending.pop()
            for value in _ids_used(exchanges[i], router):
                for w in writers.get(value, ()):
                    if w < i and w not in keep and w not in out:
                        out.add(w)
                        pending.append(w)
        for i in list(out):
            first = opened.get(units[i])
            if first is not None:
                out.add(first)
        return out

    keep = close(keep)
    for_coverage = with_closure = 0
    if covered is not None:
        ran: set[Any] = set()
        for i in keep:
            ran |= covered.get(exchanges[i].seq, frozenset())
        for i, ex in enumerate(exchanges):
            arcs = covered.get(ex.seq, frozenset())
            if i in keep or arcs <= ran:
                continue
            added = close({i}) - keep
            for_coverage += 1
            with_closure += len(added) - 1
            keep |= added
            for j in added:
                ran |= covered.get(exchanges[j].seq, frozenset())
    kept_units = {units[i] for i in keep}
    callers = list(dict.fromkeys(ex.caller for ex in exchanges))
    kept_callers = {c for c, _ in kept_units}
    return Reduction(
        Capture(capture.header, [exchanges[i] for i in sorted(keep)], [], capture.source),
        [c for c in callers if c in kept_callers],
        [c for c in callers if c not in kept_callers],
        len(seen),
        len(exchanges),
        len(kept_units),
        len(set(units)),
        for_coverage if covered is not None else None,
        with_closure,
    )


def chain(capture: Capture, seq: int) -> Capture:
    """The requests one entry needs to be replayed from the snapshot: its caller's requests up
    to it (a login, the create whose id it uses), then, transitively, every other caller's
    requests up to the one that created an id those use. Capture order is kept."""
    exchanges = capture.exchanges
    target = next((ex for ex in exchanges if ex.seq == seq), None)
    if target is None:
        raise KeyError(seq)
    creator: dict[str, Exchange] = {}
    for ex in exchanges:
        for value in _ids_created(ex):
            creator.setdefault(value, ex)
    # caller -> the last seq of theirs that is needed (their requests up to it are kept)
    upto: dict[str | None, int] = {target.caller: target.seq}
    pending = [target.caller]
    while pending:
        caller = pending.pop()
        for ex in exchanges:
            if ex.caller != caller or ex.seq > upto[caller]:
                continue
            for value in _ids_used(ex):
                made = creator.get(value)
                if made is None or made.seq >= ex.seq:
                    continue
                if upto.get(made.caller, -1) < made.seq:
                    upto[made.caller] = made.seq
                    pending.append(made.caller)
    kept = [ex for ex in exchanges if ex.caller in upto and ex.seq <= upto[ex.caller]]
    return Capture(capture.header, kept, [], capture.source)
