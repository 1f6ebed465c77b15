"""Findings: grouping (one cause, one finding), accept rules, and shrinking each to its minimum.

A group is every case that shows the same (operation, location, kind). A status
difference is keyed by its pair of statuses (``status:500 vs 200``), so a 500 never hides
behind another status difference of the same operation, and accepting ``200 vs 201``
accepts nothing else; and by its cause (``Difference.cause``: the two bodies' shapes and,
where the sides' differ, their error messages as templates), so two causes sharing a status
pair are two findings, each with its own example. The location stays the status pair's: an
accept rule written for it covers every cause; the ids of the findings split this way are
versioned (:func:`finding_ids`). The groups whose differences one request caused together (its body,
its headers, its rows, the payloads of its event rows, the invariants they break) are one
finding with their locations (:meth:`Findings.together`); accept rules still apply per
location, and an accepted location never travels with an open one.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness.cases.files import text_reductions
from harness.cases.generation import ENCODING_ERRORS, multipart_request, rebuild
from harness.compare.comparison import body_shape, other_items
from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest
from harness.setup.config import AcceptRule
from harness.setup.contract import match_operation

__all__ = [
    "ID_KIND",
    "Findings",
    "Group",
    "answer_shapes",
    "body_shape",
    "finding_ids",
    "reductions",
]

Key = tuple[str, str, str]
ID_KIND = {"time": "value"}
"""A kind split off an older one -> that one: its finding ids and accept rules still hold."""
_CAUSE = "\x1f"  # between a key's location and a status cause: never in a location


def finding_ids(group: Group, *prefix: str) -> tuple[str, list[str]]:
    """A finding's id and the ids it had before (``previous_ids``): a kind split off an older
    one keeps the older one's id (``ID_KIND``); a status finding, since a status pair's
    causes became findings of their own, hashes its cause too and names the id of the
    unsplit pair as its previous one, which "since the previous run" and ``parity merge``
    match as well."""
    parts = (*prefix, group.operation, group.location, ID_KIND.get(group.kind, group.kind))
    unsplit = "f-" + hashlib.sha1("|".join(parts).encode()).hexdigest()[:8]
    if not group.cause:
        return unsplit, []
    split = "f-" + hashlib.sha1("|".join((*parts, group.cause)).encode()).hexdigest()[:8]
    return split, [unsplit]


@dataclass
class Group:
    """One finding: every case showing the same (operation, location, kind)."""

    operation: str
    location: str
    kind: str
    count: int
    example: ExchangeResult
    difference: Difference
    accepted_by: AcceptRule | None = None
    phase: str = "stateless"
    steps: list[ExchangeResult] | None = None  # stateful: the whole (shrunk) sequence
    cause: str = ""  # a status group: its cause under its status pair (Difference.cause)

    @property
    def key(self) -> Key:
        return (
            self.operation,
            self.location + (_CAUSE + self.cause if self.cause else ""),
            self.kind,
        )

    @classmethod
    def first(cls, key: Key, example: ExchangeResult, diff: Difference, **more: Any) -> Group:
        """A new group from its key and first difference (the location without the cause)."""
        location = key[1].partition(_CAUSE)[0]
        return cls(
            key[0], location, key[2], count=1, example=example, difference=diff,
            cause=diff.cause, **more,
        )  # fmt: skip


@dataclass
class Findings:
    """Every group of the run, by phase; the accept rules decide which of them fail it."""

    accept: list[AcceptRule]
    today: dt.date = field(default_factory=dt.date.today)
    groups: dict[Key, Group] = field(default_factory=dict)  # stateless and probes
    stateful: dict[Key, Group] = field(default_factory=dict)
    # growth's sequences (creates, then a read of the grown list) apart from the stateful
    # phase's: a place both show counts in each, as it does when shards run them apart
    grown: dict[Key, Group] = field(default_factory=dict)
    interop: dict[Key, Group] = field(default_factory=dict)
    realtime: dict[Key, Group] = field(default_factory=dict)
    readback: dict[Key, Group] = field(default_factory=dict)  # reads after writes
    # union-find over (phase dict, key): groups one request showed together
    _parent: dict[tuple[str, Key], tuple[str, Key]] = field(default_factory=dict)

    def _covers(self, rule: AcceptRule, op_id: str, location: str, kind: str) -> bool:
        return (
            match_operation(rule.operation, op_id)
            and fnmatch.fnmatchcase(location, rule.location)
            and rule.kind in (kind, ID_KIND.get(kind, kind), "*")
            and rule.expires >= self.today
        )

    def rule_for(self, op_id: str, location: str, kind: str) -> AcceptRule | None:
        """The first unconditional rule covering the place (a rule with ``when`` needs the
        request: :meth:`scoped` marks the differences it covers)."""
        for rule in self.accept:
            if rule.when is None and self._covers(rule, op_id, location, kind):
                return rule
        return None

    def scoped(
        self, req: PreparedRequest, diff: Difference, earlier: Sequence[PreparedRequest] = ()
    ) -> Difference:
        """``diff`` marked with the conditional accept rule whose condition ``req`` meets;
        a difference in the writes also when one of the ``earlier`` requests whose writes
        are still in the state (a sequence's steps) meets it: the writes compared are
        cumulative, so that request caused it."""
        from harness.compare.conditions import holds

        if diff.accepted_when is not None:
            return diff
        causes = [req, *earlier] if diff.location.startswith("db:") else [req]
        for index, rule in enumerate(self.accept):
            if (
                rule.when is not None
                and self._covers(rule, req.operation, diff.location, diff.kind)
                and any(holds(rule.when, r) for r in causes)
            ):
                return replace(diff, accepted_when=index)
        return diff

    def rule_of(self, op_id: str, diff: Difference) -> AcceptRule | None:
        if diff.accepted_when is not None:
            return self.accept[diff.accepted_when]
        return self.rule_for(op_id, diff.location, diff.kind)

    def _first(
        self, key: Key, op_id: str, example: ExchangeResult, diff: Difference, phase: str
    ) -> Group:
        """A new group from its first difference, with the accept rule that covers it."""
        return Group.first(key, example, diff, accepted_by=self.rule_of(op_id, diff), phase=phase)

    def key(self, op_id: str, diff: Difference) -> Key:
        """Where a difference is grouped: one a conditional rule accepts is grouped apart
        (its location names the condition), so the same place on another request stays open;
        a status difference by its cause too."""
        cause = _CAUSE + diff.cause if diff.cause else ""
        if diff.accepted_when is None:
            return (op_id, diff.location + cause, diff.kind)
        from harness.compare.conditions import describe

        when = self.accept[diff.accepted_when].when
        assert when is not None
        return (op_id, f"{diff.location} [when {describe(when)}]{cause}", diff.kind)

    def accepted(self, op_id: str, diff: Difference, req: PreparedRequest | None = None) -> bool:
        if req is not None:
            diff = self.scoped(req, diff)
        return self.rule_of(op_id, diff) is not None

    def live(self, result: ExchangeResult) -> list[Difference]:
        """The differences of ``result`` that no accept rule covers."""
        op = result.request.operation
        return [d for d in result.differences if not self.accepted(op, d)]

    # -- one cause per request ----------------------------------------------------------------
    def _find(self, node: tuple[str, Key]) -> tuple[str, Key]:
        parent = self._parent.setdefault(node, node)
        if parent != node:
            parent = self._parent[node] = self._find(parent)
        return parent

    def _join(self, space: str, op_id: str, diffs: list[Difference]) -> None:
        """The differences of one request travel together, except a status difference
        (alone by construction) and an accepted location with an open one."""
        keys: dict[bool, list[Key]] = {True: [], False: []}
        for d in diffs:
            if d.kind != "status":
                keys[self.accepted(op_id, d)].append(self.key(op_id, d))
        for same in keys.values():
            for key in same[1:]:
                a, b = self._find((space, same[0])), self._find((space, key))
                if a != b:
                    self._parent[b] = a

    def together(self) -> list[list[Group]]:
        """Every finding as the groups one request showed together, the primary first:
        a body before headers, rows and invariants; then the most cases."""
        out: dict[tuple[str, Key], list[Group]] = {}
        group_heads: set[int] = set()
        spaces = (
            ("groups", self.groups),
            ("stateful", self.stateful),
            ("grown", self.grown),
            ("interop", self.interop),
            ("realtime", self.realtime),
            ("readback", self._readback_only()),
        )
        self._join_causes(spaces)
        order: dict[int, int] = {}
        for index, (space, groups) in enumerate(spaces):
            order.update((id(g), index) for g in groups.values())
            heads: set[Key] = set()
            for key, under in _pages(groups).items():
                heads.add(under)
                a, b = self._find((space, under)), self._find((space, key))
                if a != b:
                    self._parent[b] = a
            for key, group in groups.items():
                out.setdefault(self._find((space, key)), []).append(group)
                if key in heads:
                    group_heads.add(id(group))
        # an order that drew other pages leads the fields those pages differ in
        # a real case before a probe that showed the same; the first phase that saw it
        return [
            sorted(
                members,
                key=lambda g: (
                    id(g) not in group_heads,
                    g.example.request.mode == "probe",
                    _rank(g)[0],
                    order[id(g)],
                    _rank(g)[1:],
                ),
            )
            for members in out.values()
        ]

    def _join_causes(self, spaces: Sequence[tuple[str, dict[Key, Group]]]) -> None:
        """One cause, one finding: a group another phase found at the same (operation,
        location, kind) joins the first phase's; a probe (a trailing slash, another method,
        a varied credential) that shows what a real case showed joins that case's finding
        (a status pair with the same body shapes, on any route; another place on the route
        it varies)."""
        first: dict[Key, tuple[str, Key]] = {}
        for space, groups in spaces:
            for key in groups:
                if key in first:
                    self._union(first[key], (space, key))
                else:
                    first[key] = (space, key)
        groups = self.groups
        real: dict[tuple[str, str, str], Key] = {}
        for key, g in groups.items():
            if g.example.request.mode != "probe" and g.accepted_by is None:
                real.setdefault((g.location, g.kind, _signature(g)), key)
        for key, g in groups.items():
            if g.example.request.mode != "probe" or g.accepted_by is not None:
                continue
            same = real.get((g.location, g.kind, _signature(g)))
            varies = g.operation in (same[0] + "/", same[0]) if same else False
            if same is not None and (
                g.kind == "status" or varies or g.operation.startswith(same[0] + " [")
            ):
                self._union(("groups", same), ("groups", key))

    def _union(self, a: tuple[str, Key], b: tuple[str, Key]) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[rb] = ra

    def all_groups(self) -> list[Group]:
        return [
            *self.groups.values(),
            *self.stateful.values(),
            *self.grown.values(),
            *self.interop.values(),
            *self.realtime.values(),
            *self._readback_only().values(),
        ]

    def _readback_only(self) -> dict[Key, Group]:
        """The reads after writes that show a place the single requests did not: a read
        that differs on the snapshot too is that finding. Only the single requests' groups
        count (each is found in its operation's own shard, so ``scale.merge`` applies the
        same rule); a sequence's findings depend on timing and on what ran before."""
        return {k: g for k, g in self.readback.items() if k not in self.groups}

    def add_readback(self, write: ExchangeResult, read: ExchangeResult) -> None:
        """A read after a write, as a two-step sequence of its own phase: every read counts,
        whatever the run found before (so shards and one run record the same). Each place
        is its own finding (not joined): a shard's merge drops the places other phases
        showed one by one (``READBACK_PHASE`` in ``scale.merge``)."""
        op_id = read.request.operation
        seen: set[Key] = set()
        for d in read.differences:
            key = self.key(op_id, d)
            if key in seen or self.accepted(op_id, d):
                continue
            seen.add(key)
            group = self.readback.get(key)
            if group is None:
                self.readback[key] = Group.first(
                    key, read, d, phase="readback", steps=[write, read]
                )
            else:
                group.count += 1

    def add_realtime(self, op_id: str, example: ExchangeResult) -> None:
        """One write's stream differences (the example carries the write and both streams)."""
        self._join("realtime", op_id, example.differences)
        for d in example.differences:
            key = self.key(op_id, d)
            group = self.realtime.get(key)
            if group is None:
                self.realtime[key] = self._first(key, op_id, example, d, "realtime")
            else:
                group.count += 1

    def record(self, result: ExchangeResult, phase: str = "stateless") -> None:
        """A stateless exchange: each distinct difference joins (or starts) its group; the
        smallest request seen becomes the example (``phase``: where a new group was found)."""
        self._join("groups", result.request.operation, result.differences)
        seen: set[Key] = set()
        for diff in result.differences:
            key = self.key(result.request.operation, diff)
            if key in seen:
                continue
            seen.add(key)
            group = self.groups.get(key)
            if group is None:
                group = self.groups[key] = self._first(
                    key, result.request.operation, result, diff, phase
                )
            else:
                group.count += 1
                if result.request.size < group.example.request.size:
                    group.example = result
                    group.difference = diff

    def _sequences(self, phase: str) -> tuple[str, dict[Key, Group]]:
        return ("grown", self.grown) if phase == "growth" else ("stateful", self.stateful)

    def fresh_sequence_keys(self, last: ExchangeResult, phase: str = "stateful") -> list[Key]:
        """Keys of the live differences of a sequence's last step not yet grouped (the
        others only count once more)."""
        _, groups = self._sequences(phase)
        op = last.request.operation
        keys = [self.key(op, d) for d in last.differences if not self.accepted(op, d)]
        fresh = [k for k in dict.fromkeys(keys) if k not in groups]
        for key in dict.fromkeys(keys):
            if key in groups:
                groups[key].count += 1
        return fresh

    def add_sequence(
        self, keys: list[Key], steps: list[ExchangeResult], phase: str = "stateful"
    ) -> None:
        space, groups = self._sequences(phase)
        last = steps[-1]
        self._join(
            space,
            last.request.operation,
            [d for d in last.differences if self.key(last.request.operation, d) in keys],
        )
        for key in keys:
            op = last.request.operation
            diff = next((d for d in last.differences if self.key(op, d) == key), None)
            if diff is not None:
                groups[key] = Group.first(key, last, diff, phase=phase, steps=steps)

    def add_interop(self, op_id: str, steps: list[ExchangeResult]) -> None:
        read = steps[-1]
        self._join("interop", op_id, read.differences)
        for d in read.differences:
            key = self.key(op_id, d)
            group = self.interop.get(key)
            if group is None:
                self.interop[key] = Group.first(key, read, d, phase="interop", steps=steps)
            else:
                group.count += 1

    def shrink_all(
        self,
        exchange: Callable[[PreparedRequest], ExchangeResult],
        *,
        budget: int,
        may_write: bool,
    ) -> float:
        """Shrink the example of every open stateless finding (its primary group: the
        others travel with it); returns the seconds spent."""
        started = time.perf_counter()
        for members in self.together():
            group = members[0]
            if (
                group.accepted_by is None
                and self.groups.get(group.key) is group
                and group.example.request.mode != "contract"  # nothing to send
            ):
                shrink(group, exchange, budget=budget, may_write=may_write)
        return time.perf_counter() - started


_SCOPES = ("status", "body", "header", "realtime", "db", "invariant")
_INSIDE = ("value", "time", "missing", "extra", "type", "format")


def answer_shapes(result: ExchangeResult) -> str:
    """``{error} -> {code,message}``: the legacy's body shape, then the candidate's."""
    return f"{body_shape(result.legacy.body)} -> {body_shape(result.candidate.body)}"


def _signature(group: Group) -> str:
    if group.kind == "status":
        return group.cause or answer_shapes(group.example)
    return f"{type(group.difference.legacy).__name__}/{type(group.difference.candidate).__name__}"


def _pages(groups: dict[Key, Group]) -> dict[Key, Key]:
    """Groups of field differences inside a list (``body:$.items[*].id``) whose example
    lists other items than the other side (a short page drawn by another order) -> the
    ``ordering`` group of that list in the same operation: one cause, one finding."""
    orders = {
        (g.operation, g.location.removeprefix("body:")): key
        for key, g in groups.items()
        if g.kind == "ordering" and g.accepted_by is None and g.location.startswith("body:")
    }
    out: dict[Key, Key] = {}
    if not orders:
        return out
    for key, g in groups.items():
        if g.kind not in _INSIDE or g.accepted_by is not None or not g.location.startswith("body:"):
            continue
        place = g.location.removeprefix("body:")
        for (op, listed), head in orders.items():
            if (
                op == g.operation
                and place.startswith(listed + "[*]")
                and other_items(
                    g.example.legacy.body, g.example.candidate.body, g.difference.path, listed
                )
            ):
                out[key] = head
                break
    return out


def _rank(group: Group) -> tuple[int, int, str, str]:
    scope = group.location.split(":", 1)[0]
    where = _SCOPES.index(scope) if scope in _SCOPES else len(_SCOPES)
    return (where, -group.count, group.location, group.kind)


def shrink(
    group: Group,
    exchange: Callable[[PreparedRequest], ExchangeResult],
    *,
    budget: int,
    may_write: bool,
) -> None:
    """Greedy: drop query params, headers, body keys; shorten strings; keep the signature."""
    req = group.example.request
    if not may_write and req.method not in ("GET", "HEAD", "OPTIONS"):
        return
    if group.example.candidate_request is not None:
        return  # each side got its own value: one reduced request cannot stand for both
    improved = True
    while improved and budget > 0:
        improved = False
        for smaller in reductions(req):
            if budget <= 0:
                break
            budget -= 1
            result = exchange(smaller)
            hit = next(
                (
                    d
                    for d in result.differences
                    if (d.location, d.kind, d.cause) == (group.location, group.kind, group.cause)
                ),
                None,
            )
            if hit is not None:
                group.example = result
                group.difference = hit
                req = smaller
                improved = True
                break


def reductions(req: PreparedRequest) -> Iterator[PreparedRequest]:
    """Smaller variants of ``req``, most aggressive first."""
    for i in range(len(req.query)):
        yield replace(req, query=req.query[:i] + req.query[i + 1 :])
    for i, (name, _) in enumerate(req.headers):
        if name.lower() in ("content-type", "accept"):
            continue
        yield replace(req, headers=req.headers[:i] + req.headers[i + 1 :])
    if not req.shrinkable or req.body is NOT_SET:
        return
    body = req.body
    if isinstance(body, dict) and isinstance(body.get("multipart"), list):
        yield from _multipart_reductions(req, body)
        return
    if isinstance(body, dict):
        for key in list(body):
            yield _with_body(req, {k: v for k, v in body.items() if k != key})
        for key, value in body.items():
            if isinstance(value, str) and len(value) > 1:
                yield _with_body(req, {**body, key: value[: len(value) // 2]})
            elif isinstance(value, dict) and value:
                yield _with_body(req, {**body, key: {}})
            elif isinstance(value, list) and value:
                yield _with_body(req, {**body, key: value[:1] if len(value) > 1 else []})
    elif (isinstance(body, list) and body) or (isinstance(body, str) and len(body) > 1):
        yield _with_body(req, body[: len(body) // 2])


def _multipart_reductions(req: PreparedRequest, body: dict[str, Any]) -> Iterator[PreparedRequest]:
    """Text file parts made smaller one at a time (a CSV loses data rows, keeps its header)."""
    parts: list[dict[str, Any]] = body["multipart"]
    for index, part in enumerate(parts):
        for text in text_reductions(part["text"], part.get("contentType"), part.get("filename")):
            smaller = {**part, "text": text, "size": len(text.encode("utf-8"))}
            try:
                yield multipart_request(
                    req, [*parts[:index], smaller, *parts[index + 1 :]], body.get("fields")
                )
            except ENCODING_ERRORS:
                continue


def _with_body(req: PreparedRequest, body: Any) -> PreparedRequest:
    try:
        return rebuild(req, json_body=body)
    except ENCODING_ERRORS:
        return req
