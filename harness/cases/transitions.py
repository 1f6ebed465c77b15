"""Sequences that cross states (issue 26): a create, then the writes that change the created
row's state, then the reads that filter on the state it is now in, sent in lockstep to both
sides with the state kept between steps.

A port that moves a row to its new state right but keeps serving it under the old one (a
status index warmed at startup, a cached filter, a derived column a transition forgets) is
right on every single request against the restored snapshot and on the reads after one write
(which read the item and the unfiltered lists): only a transition followed by a read that
filters on the state it set shows it.

Everything is learned from the contract, aimed at no endpoint:

- a *create* is a POST on a collection path ``P`` (no path parameter) with a 2xx answer;
- the operations that take the created row's id are those on ``P/{p}`` and ``P/{p}/...``
  whose parameter ``p`` is ``id`` or named after the resource (``alertId``, ``alert_id``),
  filled from the create's link to them, else from ``$response.body#/id``;
- a *state field* is a top-level enum property of such a write's request body or answer
  (``status: [active, acknowledged, resolved]``) that a GET without path parameters takes as
  a query parameter of the same name and the same values: the *filtered reads*;
- a *transition* is a PATCH, PUT or POST on ``P/{p}`` or below that sets a state field in its
  body (each enum value a choice) or answers with one (``POST /alerts/{id}/resolve``: the
  state is read from the answer).

A plan is sent as: the create, one or more transitions, the row's own item, then the filtered
reads with the new state's value (and the created state's, where it changed): a port listing
the row under its old state shows on either.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field, replace
from typing import Any

from harness.cases.edges import resolve_ref
from harness.cases.generation import build_request, rebuild
from harness.cases.sequences import (
    START_ATTEMPTS,
    SequenceOutcome,
    StatefulRunner,
    Step,
    _diverged,
    _succeeded,
)
from harness.models import NOT_SET, ExchangeResult, PreparedRequest
from harness.setup.contract import Contract, Link

__all__ = [
    "FilteredRead",
    "Transition",
    "TransitionPlan",
    "TransitionRunner",
    "transition_plans",
]

_PARAM = re.compile(r"\{([^}]+)\}")
_WRITES = ("PATCH", "PUT", "POST")
READS_PER_SEQUENCE = 4  # the item and up to three filtered reads


@dataclass(frozen=True)
class Transition:
    """A write on the created row that sets the state field ``field`` in its body (``values``:
    the enum's values to choose among) or, with no ``field``, moves the row to the state its
    answer says (``POST /alerts/{id}/resolve``)."""

    operation: str
    field: str
    values: tuple[Any, ...] = ()


@dataclass(frozen=True)
class FilteredRead:
    """A list operation whose query parameter ``param`` filters on the state field ``field``."""

    operation: str
    param: str
    field: str


@dataclass(frozen=True)
class TransitionPlan:
    create: str  # "POST /api/alerts"
    id_param: str  # the path parameter naming the row: "id"
    id_expr: str  # where the create's answer holds it: "$response.body#/id"
    transitions: tuple[Transition, ...]
    reads: tuple[FilteredRead, ...]
    item: str | None = None  # "GET /api/alerts/{id}"
    links: dict[str, str] = field(default_factory=dict, compare=False)  # op -> link status

    @property
    def operations(self) -> set[str]:
        """Every operation the plan may send."""
        out = {self.create, *(t.operation for t in self.transitions)}
        out |= {r.operation for r in self.reads}
        return out | ({self.item} if self.item else set())

    @property
    def fields(self) -> list[str]:
        """The state fields the filtered reads filter on."""
        return sorted({r.field for r in self.reads})


# -- learning the plans from the contract ------------------------------------------------


def _words(segment: str) -> set[str]:
    word = segment.lower().replace("-", "_")
    singular = word[:-1] if word.endswith("s") and len(word) > 3 else word
    return {word, singular}


def _names_row(param: str, collection: str) -> bool:
    """``id``, or the resource's name with an id suffix: ``alertId``, ``alert_id``."""
    if param == "id":
        return True
    last = collection.rstrip("/").rsplit("/", 1)[-1]
    low = param.lower().replace("_", "")
    return any(low == w.replace("_", "") + "id" for w in _words(last))


def _raw(contract: Contract, path: str, method: str) -> tuple[dict[str, Any], list[Any]]:
    """The operation object and its parameters (the path item's first, then its own)."""
    item = (contract.raw.get("paths") or {}).get(path) or {}
    op = item.get(method.lower()) or {}
    root = contract.raw
    params = [resolve_ref(p, root) for p in (item.get("parameters") or [])]
    params += [resolve_ref(p, root) for p in (op.get("parameters") or [])]
    return op, [p for p in params if isinstance(p, dict)]


def _json_schema(container: Any, root: dict[str, Any]) -> Any:
    container = resolve_ref(container, root)
    if not isinstance(container, dict):
        return None
    content = container.get("content") or {}
    for media, body in content.items():
        if "json" in media and isinstance(body, dict):
            return resolve_ref(body.get("schema"), root)
    return None


def _enum(schema: Any, root: dict[str, Any]) -> tuple[Any, ...]:
    """The non-null values of an enum schema (through ``$ref``, ``anyOf``/``oneOf``)."""
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict):
        return ()
    if isinstance(schema.get("enum"), list):
        return tuple(v for v in schema["enum"] if v is not None)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key) or []:
            found = _enum(sub, root)
            if found:
                return found
    return ()


def _enum_props(schema: Any, root: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Top-level enum properties of an object schema (``allOf`` parts merged)."""
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict):
        return {}
    out: dict[str, tuple[Any, ...]] = {}
    for sub in schema.get("allOf") or []:
        out.update(_enum_props(sub, root))
    for name, sub in (schema.get("properties") or {}).items():
        values = _enum(sub, root)
        if values:
            out[name] = values
    return out


def _success(op: dict[str, Any]) -> tuple[str, Any] | None:
    """The first documented 2xx status and its answer's JSON schema."""
    for status, response in sorted((op.get("responses") or {}).items()):
        if str(status).startswith("2"):
            return str(status), response
    return None


def transition_plans(contract: Contract, selected: set[str]) -> list[TransitionPlan]:
    """Every (create, transitions, filtered reads) the contract describes, among ``selected``."""
    root = contract.raw
    ops = [op for op in contract.operations if op.id in selected]
    # filtered reads: (param name, enum values) -> GET operations without path parameters
    filters: dict[str, list[tuple[str, tuple[Any, ...]]]] = {}
    for op in ops:
        if op.method.upper() != "GET" or _PARAM.search(op.path):
            continue
        _, params = _raw(contract, op.path, op.method)
        for p in params:
            if p.get("in") == "query" and isinstance(p.get("name"), str):
                values = _enum(p.get("schema"), root)
                if values:
                    filters.setdefault(p["name"], []).append((op.id, values))
    plans: list[TransitionPlan] = []
    for create in ops:
        if create.method.upper() != "POST" or _PARAM.search(create.path):
            continue
        raw_create, _ = _raw(contract, create.path, create.method)
        ok = _success(raw_create)
        if ok is None:
            continue
        collection = create.path.rstrip("/")
        links = {
            link.target: link
            for link in contract.links
            if link.source == create.id and link.status.startswith("2")
        }
        transitions: list[Transition] = []
        reads: dict[tuple[str, str], FilteredRead] = {}
        item: str | None = None
        id_param: str | None = None
        id_expr = "$response.body#/id"
        for op in ops:
            rest = op.path[len(collection) :] if op.path.startswith(collection + "/") else None
            if rest is None:
                continue
            names = _PARAM.findall(rest)
            if len(names) != 1 or not rest.startswith("/{" + names[0] + "}"):
                continue
            if not _names_row(names[0], collection):
                continue
            link = links.get(op.id)
            if link is not None:
                expr = dict(link.parameters).get(names[0])
                if expr is not None:
                    id_expr = expr
            id_param = id_param or names[0]
            method = op.method.upper()
            if method == "GET" and rest == "/{" + names[0] + "}":
                item = op.id
                continue
            if method not in _WRITES:
                continue
            raw_op, _ = _raw(contract, op.path, op.method)
            body = _enum_props(_json_schema(raw_op.get("requestBody"), root), root)
            answered = _success(raw_op)
            answer = (
                _enum_props(_json_schema(answered[1], root), root) if answered is not None else {}
            )
            answered_only = False
            for name, values in {**answer, **body}.items():
                matching = [
                    (read, vals) for read, vals in filters.get(name, []) if set(vals) == set(values)
                ]
                if not matching:
                    continue
                if name in body:
                    transitions.append(Transition(op.id, name, values))
                else:
                    answered_only = True
                for read, _vals in matching:
                    reads.setdefault((read, name), FilteredRead(read, name, name))
            if answered_only and not any(t.operation == op.id for t in transitions):
                transitions.append(Transition(op.id, ""))  # the state: as its answer says
        if not transitions or not reads or id_param is None:
            continue
        # the collection's own list first, then the others that filter on the same field
        ordered = sorted(
            reads.values(),
            key=lambda r: (contract.get(r.operation).path != collection, r.operation, r.param),
        )
        plans.append(
            TransitionPlan(
                create.id,
                id_param,
                id_expr,
                tuple(transitions),
                tuple(ordered),
                item,
                {create.id: ok[0]},
            )
        )
    return plans


# -- sending them -------------------------------------------------------------------------


def _field_of(body: Any, name: str) -> Any:
    if isinstance(body, dict):
        if name in body and not isinstance(body[name], dict | list):
            return body[name]
        data = body.get("data")
        if isinstance(data, dict):
            return _field_of(data, name)
    return None


def with_field(req: PreparedRequest, name: str, value: Any) -> PreparedRequest:
    """``req`` with its JSON body's ``name`` set to ``value`` (re-encoded)."""
    if req.body is not NOT_SET and not isinstance(req.body, dict):
        return req  # not a JSON object: sent as drawn
    body = dict(req.body) if isinstance(req.body, dict) else {}
    body[name] = value
    return replace(rebuild(req, json_body=body), path_params=req.path_params)


class TransitionRunner:
    """Plans and sends transition sequences through a :class:`StatefulRunner`'s ``send``,
    ``reset`` and link filling (each side fills the id from its own create's answer)."""

    def __init__(
        self,
        runner: StatefulRunner,
        plans: list[TransitionPlan],
        max_steps: int,
    ) -> None:
        self.runner = runner
        self.plans = plans
        self.max_steps = max(3, max_steps)
        self.built = 0  # sequences planned

    def _pool(self, op_id: str, path: str, method: str, role: str | None) -> PreparedRequest:
        pool = self.runner.pool(op_id)
        if pool:
            base = pool[0] if self.runner.rng.random() < 0.5 else self.runner.rng.choice(pool)
            return replace(base, role=role)
        return build_request(
            operation=op_id,
            method=method,
            path=path,
            query=(),
            headers=(),
            role=role,
            mode="positive",
        )

    def run(self, index: int, k: int, roles: list[str | None]) -> SequenceOutcome:
        """Transition sequence ``index`` (run sequence ``k``): the plans take turns; its
        role and choices are drawn from (seed, k)."""
        runner = self.runner
        runner.start_sequence(k)
        rng: random.Random = runner.rng
        plan = self.plans[index % len(self.plans)]
        order = list(roles)
        rng.shuffle(order)
        steps: list[Step] = []
        results: list[ExchangeResult] = []
        drifts: list[int] = []
        self.built += 1

        def record(step: Step, result: ExchangeResult) -> None:
            steps.append(step)
            results.append(result)
            if runner.is_drift(result):
                drifts.append(len(results) - 1)

        def outcome(broken: bool = False) -> SequenceOutcome:
            return SequenceOutcome(
                steps, results, drifts[0] if drifts else None, broken=broken, drifts=drifts
            )

        try:
            create = runner.paths[plan.create]
            # a start that succeeds: each role in turn (the contract's example first)
            first: Step | None = None
            for attempt in range(min(START_ATTEMPTS, len(order))):
                base = self._pool(plan.create, create, "POST", order[attempt])
                first = Step(plan.create, base)
                result = runner.send(base, base)
                if runner.is_drift(result) or _succeeded(result) or attempt == len(order) - 1:
                    break
                runner.reset()
            assert first is not None
            record(first, result)
            if not _succeeded(result) or _diverged(result):
                return outcome(broken=not _succeeded(result))
            role = first.base.role
            status = str(result.legacy.status)
            state: dict[str, Any] = {}
            for name in plan.fields:
                state[name] = _field_of(result.legacy.body, name)
            created = dict(state)

            def link(target: str) -> Link:
                return Link(
                    plan.create, status, "transition", target, ((plan.id_param, plan.id_expr),)
                )

            # transitions: at least one, at most what leaves room for the reads
            room = self.max_steps - 1 - min(READS_PER_SEQUENCE, 2)
            for _ in range(rng.randint(1, max(1, min(3, room)))):
                t = rng.choice(plan.transitions)
                path = runner.paths[t.operation]
                method = t.operation.split(" ", 1)[0]
                base = self._pool(t.operation, path, method, role)
                if t.values:
                    others = [v for v in t.values if v != state.get(t.field)] or list(t.values)
                    base = with_field(base, t.field, rng.choice(others))
                step = Step(t.operation, base, 0, link(t.operation))
                pair = runner._request_pair(step, results)
                if pair is None:
                    return outcome(broken=True)
                result = runner.send(*pair)
                record(step, result)
                if _diverged(result):
                    return outcome()
                if _succeeded(result):
                    for name in plan.fields:
                        value = _field_of(result.legacy.body, name)
                        if value is None and name == t.field and isinstance(base.body, dict):
                            value = base.body.get(name)
                        if value is not None:
                            state[name] = value
            # the reads: the row's own item, then each filter on the new state (and the old)
            planned: list[Step] = []
            if plan.item is not None:
                base = self._pool(plan.item, runner.paths[plan.item], "GET", role)
                planned.append(Step(plan.item, replace(base, query=()), 0, link(plan.item)))
            touched = {f for f in plan.fields if state.get(f) != created.get(f)}
            ranked = sorted(plan.reads, key=lambda r: r.field not in touched)
            for read in ranked:
                values = [state.get(read.field)]
                if created.get(read.field) not in values:
                    values.append(created.get(read.field))
                for value in values:
                    if value is None or len(planned) >= READS_PER_SEQUENCE:
                        continue
                    path = runner.paths[read.operation]
                    base = build_request(
                        operation=read.operation,
                        method="GET",
                        path=path,
                        query=((read.param, _text(value)),),
                        headers=(),
                        role=role,
                        mode="positive",
                    )
                    planned.append(Step(read.operation, base))
            for step in planned:
                pair = runner._request_pair(step, results)
                if pair is None:
                    continue
                result = runner.send(*pair)
                record(step, result)
                if _diverged(result):
                    break
            return outcome()
        finally:
            runner.reset()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value)


def plan_summary(plans: list[TransitionPlan]) -> str:
    """``POST /api/alerts -> 3 transition(s) -> 2 filtered read(s)`` per plan, for the notes."""
    return "; ".join(
        f"{p.create} -> {len(p.transitions)} transition(s) on {', '.join(p.fields)} -> "
        f"{len(p.reads)} filtered read(s)"
        for p in plans
    )
