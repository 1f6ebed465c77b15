"""``parity traffic reduce``: a representative part of a capture, sampled by caller (a
caller's requests are kept or dropped together, so id chains and logins stay whole): callers
are added until every (operation, status, response shape, query-parameter set) the traffic
shows is covered and every 5xx kept, then the callers whose writes created an id a kept
request uses (the dependency closure)."""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from harness.setup.contract import Contract
from harness.traffic.capture import Capture, Exchange
from harness.traffic.replay import Router, _shape

__all__ = ["Reduction", "chain", "reduce_capture"]

_ID_KEY = re.compile(r"(^id$|Id$|_id$)")
Signature = tuple[str, str | None, int, str, tuple[str, ...]]


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


def _ids_used(ex: Exchange) -> set[str]:
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

    def summary(self) -> str:
        kept = len(self.capture.exchanges)
        ratio = kept / self.total if self.total else 0.0
        return (
            f"kept {kept} of {self.total} exchanges ({ratio:.0%}), "
            f"{len(self.kept_callers)} of {len(self.kept_callers) + len(self.dropped_callers)} "
            f"callers; {self.signatures} distinct (operation, role, status, shape, parameters) all "
            f"covered, every 5xx kept; dropped callers: "
            + (", ".join(str(c) for c in self.dropped_callers) or "none")
        )


def reduce_capture(
    capture: Capture,
    contract: Contract,
    base_path: str,
    roles: dict[str, str] | None = None,
    default_role: str | None = None,
) -> Reduction:
    """``roles``: caller pseudonym -> the role it replays as (the replay's own mapping), so a
    request per (operation, role, ...) is kept: a reader's GET and an admin's are not one."""
    roles = roles or {}
    router = Router(contract, base_path)
    by_caller: dict[str | None, list[Exchange]] = defaultdict(list)
    sigs: dict[str | None, set[Signature]] = defaultdict(set)
    must: set[str | None] = set()
    for ex in capture.exchanges:
        by_caller[ex.caller].append(ex)
        hit = router.match(ex.request.method, ex.request.path)
        op = hit[0].id if hit else f"{ex.request.method} {ex.request.path}"
        status = ex.answer.status if ex.answer else 0
        body = ex.answer.body.decoded() if ex.answer and ex.answer.body else None
        shape = hashlib.sha1(
            json.dumps(sorted(_shape(body)) if body is not None else []).encode()
        ).hexdigest()[:10]
        role = roles.get(ex.caller, default_role) if ex.caller is not None else None
        params = tuple(sorted({k for k, _ in ex.request.query}))
        sigs[ex.caller].add((op, role, status, shape, params))
        if status >= 500:
            must.add(ex.caller)
    everything = set().union(*sigs.values()) if sigs else set()
    kept: set[str | None] = set(must)
    covered: set[Signature] = set().union(*(sigs[c] for c in kept)) if kept else set()
    while covered != everything:  # greedy set cover, by caller
        best = max(
            (c for c in by_caller if c not in kept),
            key=lambda c: (len(sigs[c] - covered), -len(by_caller[c])),
        )
        kept.add(best)
        covered |= sigs[best]
    # dependency closure: the callers whose writes created an id a kept request uses
    creators: dict[str, str | None] = {}
    for ex in capture.exchanges:
        for value in _ids_created(ex):
            creators.setdefault(value, ex.caller)
    changed = True
    while changed:
        changed = False
        for caller in list(kept):
            for ex in by_caller[caller]:
                for value in _ids_used(ex):
                    creator = creators.get(value, caller)
                    if creator not in kept:
                        kept.add(creator)
                        changed = True
    exchanges = [ex for ex in capture.exchanges if ex.caller in kept]
    order = list(by_caller)
    return Reduction(
        Capture(capture.header, exchanges, [], capture.source),
        [c for c in order if c in kept],
        [c for c in order if c not in kept],
        len(everything),
        len(capture.exchanges),
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
