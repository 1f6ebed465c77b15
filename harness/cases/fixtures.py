"""``[fixtures]``: named values for the parameters and body fields that name real rows.

A generated ``assigneeId`` is a random integer, so an assignment almost never names a real
user, let alone one of the caller's unit; a generated ``sharedWith`` is never a real email.
A fixture names the values to use instead (fixed ``values``, a SQL query on the seeded
snapshot, or a list operation's responses), and every operation that takes a parameter or
a JSON body field of that name gets cases with each value, as each role: in the generated
cases (``fixture_cases``) and in the rows phase (``FixtureValues.apply_all``), where real
rows meet real values. Each case is one request, so both sides get the same bytes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, Protocol

from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse

from harness.cases.edges import resolve_ref as _resolve
from harness.cases.generation import ENCODING_ERRORS, build_request, rebuild
from harness.cases.sequences import fill
from harness.errors import HarnessError
from harness.models import PreparedRequest, Response
from harness.setup.config import FixtureRule, ParityConfig
from harness.setup.contract import Contract, Operation, match_operation

__all__ = ["FixtureHost", "FixtureValues", "Slot", "fixture_cases", "list_items", "slots_of"]


class _Legacy(Protocol):
    """The side fixtures are read from (``harness.pair.targets.Pair`` is one)."""

    @property
    def snapshot(self) -> Path | None: ...
    @property
    def watchers(self) -> Mapping[str, object]: ...
    def send_one(self, key: str, req: PreparedRequest) -> Response: ...
    def restore(self) -> None: ...


class _Notes(Protocol):
    @property
    def notes(self) -> list[str]: ...


class FixtureHost(Protocol):
    """What resolving fixtures needs of a run (``harness.run.context.RunContext`` is one):
    cases sit below the run, so they name the few things they use, not the run."""

    @property
    def config(self) -> ParityConfig: ...
    @property
    def contract(self) -> Contract: ...
    @property
    def pair(self) -> _Legacy: ...
    @property
    def stats(self) -> _Notes: ...
    def roles(self) -> list[str | None]: ...


MAX_DEPTH = 4  # body schema levels searched for a field name
MAX_ROLES = 3  # roles each value is sent as, in the generated cases


@dataclass(frozen=True)
class Slot:
    """One place an operation takes a named value: a path or query parameter, or a JSON body
    field (``keys`` is the field's path from the body's root)."""

    name: str
    location: Literal["path", "query", "body"]
    keys: tuple[str, ...]

    def describe(self) -> str:
        return ".".join(self.keys) if self.location == "body" else f"{self.location} {self.name}"


def list_items(body: Any) -> list[dict[str, Any]]:
    """The list of objects in a list response: the body itself, or its first array field."""
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
                return list(value)
    return []


def _body_paths(
    schema: Any, root: dict[str, Any], name: str, depth: int = 0
) -> list[tuple[str, ...]]:
    schema = _resolve(schema, root)
    if not isinstance(schema, dict) or depth >= MAX_DEPTH:
        return []
    out: list[tuple[str, ...]] = []
    for key, prop in (schema.get("properties") or {}).items():
        if key == name:
            out.append((key,))
        out += [(key, *rest) for rest in _body_paths(prop, root, name, depth + 1)]
    for combiner in ("allOf", "anyOf", "oneOf"):
        for member in schema.get(combiner) or []:
            out += _body_paths(member, root, name, depth)
    return list(dict.fromkeys(out))


def slots_of(op: Operation, root: dict[str, Any], name: str, rule: FixtureRule) -> list[Slot]:
    """Where ``op`` takes a value called ``name``, as far as ``rule`` applies to it."""
    if op.api is None or not any(match_operation(p, op.id) for p in rule.operations):
        return []
    definition = op.api.definition.raw
    out: list[Slot] = []
    params = [_resolve(p, root) for p in definition.get("parameters") or []]
    for param in params:
        if not isinstance(param, dict) or param.get("name") != name:
            continue
        where = param.get("in")
        if where in ("path", "query") and where in rule.locations:
            out.append(Slot(name, where, (name,)))
    in_path = "{" + name + "}" in op.path
    if "path" in rule.locations and in_path and not any(s.location == "path" for s in out):
        out.append(Slot(name, "path", (name,)))
    if "body" in rule.locations:
        content = ((definition.get("requestBody") or {}).get("content") or {}).get(
            "application/json"
        )
        if isinstance(content, dict):
            for keys in _body_paths(content.get("schema"), root, name):
                out.append(Slot(name, "body", keys))
    return out


def _set(body: Any, keys: tuple[str, ...], value: Any) -> Any:
    """A copy of ``body`` with ``keys`` set to ``value`` (missing objects on the way made)."""
    if not keys:
        return value
    base = dict(body) if isinstance(body, dict) else {}
    base[keys[0]] = _set(base.get(keys[0]), keys[1:], value)
    return base


def apply(req: PreparedRequest, op: Operation, slot: Slot, value: Any) -> PreparedRequest | None:
    """``req`` with the slot set to ``value`` (None: the request cannot carry it)."""
    if slot.location == "path":
        return fill(req, op.path, {slot.name: value})
    if slot.location == "query":
        text = value if isinstance(value, str) else _text(value)
        query = (*((k, v) for k, v in req.query if k != slot.name), (slot.name, text))
        return replace(req, query=query)
    if not isinstance(req.body, dict):
        return None
    try:
        out = rebuild(req, json_body=_set(req.body, slot.keys, value))
    except ENCODING_ERRORS:
        return None
    return replace(out, path_params=req.path_params)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


class FixtureValues:
    """The configured fixtures, each resolved once per run (on the legacy's data)."""

    def __init__(self, ctx: FixtureHost) -> None:
        self.ctx = ctx
        self.rules = ctx.config.fixture_rules()
        self._values: dict[str, list[Any]] = {}

    def slots(self, op: Operation) -> list[tuple[Slot, list[Any]]]:
        """Every slot of ``op`` a fixture fills, with its values (slots without values are
        left out)."""
        out: list[tuple[Slot, list[Any]]] = []
        for name, rule in self.rules.items():
            found = slots_of(op, self.ctx.contract.raw, name, rule)
            if not found:
                continue
            values = self.values(name)
            if values:
                out += [(slot, values) for slot in found]
        return out

    def values(self, name: str) -> list[Any]:
        hit = self._values.get(name)
        if hit is None:
            rule = self.rules[name]
            if rule.values is not None:
                hit = list(rule.values)
            elif rule.sql is not None:
                hit = self._sql(name, rule.sql)
            else:
                hit = self._source(name, rule)
            hit = list(dict.fromkeys(_hashable(v) for v in hit))[: rule.limit]
            if not hit:
                self.ctx.stats.notes.append(f"fixture {name!r} resolved to no values")
            self._values[name] = hit
        return hit

    def _sql(self, name: str, sql: str) -> list[Any]:
        snapshot = self.ctx.pair.snapshot
        if snapshot is None:
            self.ctx.stats.notes.append(
                f"fixture {name!r}: sql needs the seeded snapshot (managed mode); not used"
            )
            return []
        conn = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
        try:
            return [row[0] for row in conn.execute(sql).fetchall()]
        except sqlite3.Error as exc:
            raise HarnessError(
                f"{self.ctx.config.source}: fixtures.{name}.sql: {exc}", kind="config"
            ) from exc
        finally:
            conn.close()

    def _source(self, name: str, rule: FixtureRule) -> list[Any]:
        assert rule.source is not None
        method, _, path = rule.source.partition(" ")
        try:
            finder = parse(rule.path) if rule.path else None
        except (JSONPathError, Exception) as exc:  # jsonpath-ng raises bare Exceptions too
            raise HarnessError(
                f"{self.ctx.config.source}: fixtures.{name}.path: {exc}", kind="config"
            ) from exc
        out: list[Any] = []
        for role in self.ctx.roles():
            req = build_request(
                operation=rule.source,
                method=method.upper(),
                path=path,
                query=(),
                headers=(("accept", "application/json"),),
                role=role,
                mode="pool",
            )
            resp = self.ctx.pair.send_one("legacy", req)
            if self.ctx.pair.watchers:
                self.ctx.pair.restore()  # a list that writes (analytics) leaves no trace
            if not 200 <= resp.status < 300:
                continue
            if finder is not None:
                out += [m.value for m in finder.find(resp.body)]
            else:
                out += [item["id"] for item in list_items(resp.body) if "id" in item]
        return out

    def apply_all(
        self, req: PreparedRequest, op: Operation, index: int, skip: frozenset[str] = frozenset()
    ) -> PreparedRequest:
        """``req`` with every fixture slot of ``op`` (but those named in ``skip``) set to a
        value, the ``index``-th in turn, so consecutive requests take different values."""
        for slot, values in self.slots(op):
            if slot.name in skip:
                continue
            filled = apply(req, op, slot, values[index % len(values)])
            if filled is not None:
                req = filled
        return req


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else str(value)


def fixture_cases(
    ctx: FixtureHost, fixtures: FixtureValues, op: Operation, cases: list[PreparedRequest]
) -> list[PreparedRequest]:
    """For each fixture slot of ``op``: each value, as up to ``MAX_ROLES`` roles in turn (so
    a value a role may use and one it may not both reach each role), on the operation's
    positive generated cases; where several names apply, first all of them at once (value
    i of each); duplicates of ``cases`` dropped."""
    found = fixtures.slots(op)
    positive = [c for c in cases if c.mode == "positive"]
    if not found or not positive:
        return []
    roles = ctx.roles()[:MAX_ROLES]
    known = {c.signature() for c in cases}
    out: list[PreparedRequest] = []
    if len({slot.name for slot, _ in found}) > 1:
        # every named value at once (a real case shared with a real user), value i of each
        width = max(len(values) for _, values in found)
        for turn in range(len(roles)):
            for i in range(width):
                pick = positive[(i + turn) % len(positive)]
                req = fixtures.apply_all(replace(pick, role=roles[(i + turn) % len(roles)]), op, i)
                if req.signature() not in known:
                    known.add(req.signature())
                    out.append(req)
    for slot, values in found:
        bases = [c for c in positive if slot.location != "body" or isinstance(c.body, dict)]
        if not bases:
            continue
        for turn in range(len(roles)):
            for i, value in enumerate(values):
                role = roles[(i + turn) % len(roles)]
                base = replace(bases[(i + turn) % len(bases)], role=role)
                one = apply(base, op, slot, value)
                if one is None or one.signature() in known:
                    continue
                known.add(one.signature())
                out.append(one)
    return out
