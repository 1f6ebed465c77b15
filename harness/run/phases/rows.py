"""Existing rows: every operation that names a row by a path parameter, sent for real rows.

Generated ids are random, so nearly every generated case of ``PATCH /cases/{id}`` is a 404.
This phase draws ids from pools instead: values the config names (``[[pool]] values``), a
SQL query on the snapshot (``sql``), a ``[fixtures]`` entry of the parameter's name, or, by
default, the collection's own list operation (``GET /cases`` for ``/cases/{id}``, its page
size at the contract's maximum) as each role sees it. From a list it picks one row per state
(the combination of the items' low-cardinality fields: each ``status``, with and without an
assignee, ...), then rows that show a field value no picked row has, and, for each role,
rows only other roles can see (the 403/404 paths). Body fields and query parameters a
``[fixtures]`` entry names take its values in turn, so a real row meets a real assignee.
Where the list is empty, or no existing row got a success, a row is created first through
an operation that links to this one (a stateful prefix). Both sides get the same request
bytes.
"""

from __future__ import annotations

import re
import sqlite3
from collections import Counter
from dataclasses import replace
from typing import Any

from harness.cases.combos import covered_pairs
from harness.cases.edges import resolve_ref
from harness.cases.files import grown
from harness.cases.fixtures import Slot, list_items
from harness.cases.generation import ENCODING_ERRORS, build_request, multipart_request, rebuild
from harness.cases.sequences import fill, resolve
from harness.cases.statebodies import RowState, body_dimensions, body_for, state_body_rows
from harness.errors import HarnessError
from harness.models import NOT_SET, ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import GroupTally, RunContext
from harness.run.datacases import tag_value, value_source
from harness.run.readback import ReadBack
from harness.setup.contract import Link, Operation, match_operation

__all__ = ["Rows", "row_states"]

LABEL_SUFFIX = " · existing rows"
COMBINED = "combined"  # a request mode: inputs crossed on purpose, refusals expected
HIDDEN = "hidden"  # the proof group of a row its role cannot see
_PARAM = re.compile(r"\{([^}]+)\}")
MAX_STATES = 6  # rows per role and parameter, one per distinct state
MAX_COVER = 4  # more rows per role, each showing a field value no picked row shows
MAX_HIDDEN = 2  # rows a role cannot see, per role
LADDER_START = 1 << 20  # bodies grown for a 413: from 1 MiB, doubled
LADDER_TOP = 32 << 20
_PAGE_SIZE = re.compile(r"limit|size|per_?page|count|take|first|top", re.IGNORECASE)

_items = list_items


def row_states(items: list[dict[str, Any]], key: str) -> list[tuple[Any, str]]:
    """(id, state) for one row per distinct state, states in first-seen order, then rows
    that show a field value (or a null/set field) none of those rows shows, most new values
    first.

    A state is the row's values of its low-cardinality fields (at most 6 distinct values
    over the list, ids aside) and whether each nullable field is set."""
    if not items:
        return []
    fields: dict[str, set[str]] = {}
    for item in items:
        for name, value in item.items():
            if isinstance(value, dict | list):
                continue
            fields.setdefault(name, set()).add(repr(value))
    low = [
        name
        for name, values in fields.items()
        if name != key and not name.lower().endswith(("id", "at")) and 1 < len(values) <= 6
    ]
    nullable = [
        name
        for name in fields
        if name != key
        and any(item.get(name) is None for item in items)
        and any(item.get(name) is not None for item in items)
    ]

    def features(item: dict[str, Any]) -> set[str]:
        out = {f"{n}={item.get(n)!r}" for n in low}
        return out | {f"{n} {'set' if item.get(n) is not None else 'null'}" for n in nullable}

    def state(item: dict[str, Any]) -> str:
        parts = [f"{n}={item.get(n)!r}" for n in low]
        parts += [f"{n} {'set' if item.get(n) is not None else 'null'}" for n in nullable]
        return ", ".join(parts) or "any"

    rows = [item for item in items if item.get(key) is not None]
    seen: dict[str, dict[str, Any]] = {}
    for item in rows:
        seen.setdefault(state(item), item)
    picked = list(seen.values())[:MAX_STATES]
    covered = set().union(*(features(i) for i in picked)) if picked else set()
    for _ in range(MAX_COVER):
        best = max(rows, key=lambda i: len(features(i) - covered), default=None)
        if best is None or not features(best) - covered:
            break
        picked.append(best)
        covered |= features(best)
    return [(item[key], state(item)) for item in picked]


class Rows:
    name = "rows"

    def execute(self, ctx: RunContext) -> None:
        readback = ReadBack(ctx, ctx.profile.reads_after_writes)
        for op in ctx.selected:
            if "413" in op.statuses:
                self._too_large(ctx, op)
            params = _PARAM.findall(op.path)
            if not params or op.api is None:
                continue
            cases, groups = self._cases(ctx, op, params[0])
            if cases:
                tallies = ctx.replay_all(
                    op.id + LABEL_SUFFIX,
                    op,
                    cases,
                    phase="rows",
                    after_write=readback,
                    groups=groups,
                )
                _uncount_refused_states(ctx, op, tallies)
            if not cases or not ctx.stats.proven(op):
                self._created_first(ctx, op)
        readback.note("rows")

    def _too_large(self, ctx: RunContext, op: Operation) -> None:
        """An operation that documents 413: its first valid request with the body grown
        (a file part, else its longest string field) to 1 MiB, then doubled, until the
        legacy answers 413 or the body reaches 32 MiB; each size is compared on both sides.
        The limit itself is seldom in the contract; this finds its power-of-two bracket."""
        bases = [c for c in ctx.cases.pool(op.id) if _grown(c, 1) is not None]
        if not bases:
            return
        role = ctx.roles()[0]
        stats = ctx.stats.op(op)
        label = op.id + " · payload size"
        size = LADDER_START
        while size <= LADDER_TOP:
            req = _grown(replace(bases[0], role=role), size)
            if req is None:
                return
            ctx.listener.operation_started(OperationStarted(label=label, total=1))
            result = ctx.exchange(req)
            agreed = not ctx.findings.live(result)
            stats.add(result, agreed)
            ctx.findings.record(result, "rows")
            ctx.listener.case_done(CaseDone(label=label, agreed=agreed))
            if result.legacy.status == 413 or result.legacy.status == 0:
                return
            size *= 2

    def _created_first(self, ctx: RunContext, op: Operation) -> None:
        """No existing row to send ``op`` for (the list is empty), or none got a success
        (none this role may touch): create one through an operation that links here, then
        send ``op`` for it, each side with the id its own create returned; restored after
        each pair. Answers count as phase ``rows:created``."""
        links = [link for link in ctx.contract.links if link.target == op.id and link.parameters]
        selected = {o.id for o in ctx.selected}
        stats = ctx.stats.op(op)
        phase, ctx.phase = ctx.phase, "rows:created"
        try:
            for link in links[:2]:
                if link.source not in selected or not ctx.cases.pool(link.source):
                    continue
                source_op = ctx.contract.get(link.source)
                for index, role in enumerate(ctx.roles()):
                    source = replace(ctx.cases.pool(link.source)[0], role=role)
                    source = ctx.fixtures.apply_all(source, source_op, index)
                    created = ctx.exchange(source, restore=False)
                    pair = _linked(ctx, op, link, created, role, index)
                    if pair is not None:
                        result = ctx.exchange(pair[0], pair[1], restore=False)
                        stats.add(result, not ctx.findings.live(result))
                        ctx.findings.record(result, "rows")
                        ctx.stats.row_states.setdefault(op.id, set()).add(
                            f"created by {link.source}"
                        )
                    ctx.pair.restore()
                if ctx.stats.proven(op):
                    return
        finally:
            ctx.phase = phase

    def _cases(
        self, ctx: RunContext, op: Operation, param: str
    ) -> tuple[list[PreparedRequest], list[str | None]]:
        """The phase's cases and, for each, its group for the proof: the state of the row it
        names as its role sees it, ``hidden`` for a row the role cannot see (None: the
        crossed cases, never counted)."""
        bases = ctx.cases.pool(op.id)[:2]
        if not bases:
            return [], []
        visible = self._visible(ctx, op, param)
        if not any(visible.values()):
            return [], []
        everyone = {v for ids in visible.values() for v, _ in ids}
        width = max(
            (len(values) for slot, values in ctx.fixtures.slots(op) if slot.name != param),
            default=0,
        )
        out: list[PreparedRequest] = []
        for role, ids in visible.items():
            seen = [v for v, _ in ids]
            hidden = sorted(everyone - set(seen), key=str)[:MAX_HIDDEN]
            for index, value in enumerate(seen + hidden):
                out.append(self._row_case(op, bases[index % len(bases)], role, param, value))
            if not width or not seen:
                continue
            # again with the body fields and query parameters [fixtures] names: every value
            # on a row this role sees and every row with some value (a real row meets a real
            # assignee, of the caller's unit and not), then the hidden rows
            pairs = [(seen[k % len(seen)], k) for k in range(max(len(seen), width))]
            pairs += [(v, len(pairs) + k) for k, v in enumerate(hidden)]
            for value, k in pairs:
                req = self._row_case(op, bases[k % len(bases)], role, param, value)
                fixed = ctx.fixtures.apply_all(req, op, k, skip=frozenset({param}))
                if fixed.signature() != req.signature():
                    # values of other rows and units on purpose: refusals expected, so not
                    # the phase's proof (as the state bodies below)
                    out.append(replace(fixed, mode=COMBINED))
        ctx.stats.row_states.setdefault(op.id, set()).update(
            state for ids in visible.values() for _, state in ids
        )
        out += self._state_bodies(ctx, op, param, visible, bases)
        states = {
            (role, str(value)): state for role, ids in visible.items() for value, state in ids
        }
        groups: list[str | None] = [
            states.get((c.role, str(dict(c.path_params).get(param))), HIDDEN)
            if c.mode == "positive"
            else None
            for c in out
        ]
        return _tag_snapshot_ids(ctx, op, param, visible, out), groups

    def _state_bodies(
        self,
        ctx: RunContext,
        op: Operation,
        param: str,
        visible: dict[str | None, list[tuple[Any, str]]],
        bases: list[PreparedRequest],
    ) -> list[PreparedRequest]:
        """Each row state crossed with the body fields' interesting values, pairwise
        (:mod:`harness.cases.statebodies`), within ``Profile.state_bodies`` per operation;
        the pairs covered are noted per operation."""
        budget = ctx.profile.state_bodies
        json_bases = [b for b in bases if isinstance(b.body, dict) and "multipart" not in b.body]
        if budget <= 0 or not json_bases or op.api is None:
            return []
        content = (op.api.definition.raw.get("requestBody") or {}).get("content") or {}
        schema = (content.get("application/json") or {}).get("schema")
        if schema is None:
            return []
        fixed = {
            slot.keys[0]: values
            for slot, values in ctx.fixtures.slots(op)
            if slot.location == "body" and len(slot.keys) == 1
        }
        dims = body_dimensions(schema, ctx.contract.raw, lambda name: fixed.get(name, []))
        # each state once, as the first role that sees it (commonly the widest): the roles
        # themselves are crossed with every row by the cases above
        states: dict[str, RowState] = {}
        for role, ids in visible.items():
            for value, state in ids:
                states.setdefault(state, RowState(role, value, state))
        every, rows = state_body_rows(list(states.values()), dims, budget)
        if not rows:
            return []
        covered, total = covered_pairs(every, rows)
        ctx.stats.notes.append(
            f"row states x bodies {op.id}: {covered} of {total} pairs in {len(rows)} cases"
        )
        out: list[PreparedRequest] = []
        for index, (state, *values) in enumerate(rows):
            base = json_bases[index % len(json_bases)]
            try:
                req = rebuild(base, json_body=body_for(base.body, dims, values))
            except ENCODING_ERRORS:
                continue
            req = replace(req, path_params=base.path_params)
            one = self._row_case(op, req, state.role, param, state.value)
            # meant to meet each state with each value, refusals included: not the phase's proof
            out.append(replace(one, mode=COMBINED))
        return out

    @staticmethod
    def _row_case(
        op: Operation, base: PreparedRequest, role: str | None, param: str, value: Any
    ) -> PreparedRequest:
        req = fill(replace(base, role=role, mode="positive"), op.path, {param: value})
        return replace(req, operation=op.id)

    def _visible(
        self, ctx: RunContext, op: Operation, param: str
    ) -> dict[str | None, list[tuple[Any, str]]]:
        """Per role: (id, state) of the rows it can see."""
        rule = next(
            (
                p
                for p in ctx.config.pool
                if p.parameter == param and match_operation(p.operation, op.id)
            ),
            None,
        )
        roles = ctx.config.role_names(ctx.profile)
        if rule is not None and rule.values:
            return {role: [(v, "configured") for v in rule.values] for role in roles}
        if rule is not None and rule.sql:
            values = _sql_values(ctx, rule.sql)
            return {role: [(v, "snapshot") for v in values[:MAX_STATES]] for role in roles}
        if rule is None:
            fixed = next(
                (
                    values
                    for slot, values in ctx.fixtures.slots(op)
                    if slot.location == "path" and slot.name == param
                ),
                None,
            )
            if fixed:
                return {role: [(v, f"fixture {param}") for v in fixed] for role in roles}
        source = rule.source if rule is not None and rule.source else _list_operation(ctx, op)
        if source is None:
            return _snapshot_visible(ctx, op, param, roles)
        field = rule.field if rule is not None and rule.field else None
        query = _largest_page(ctx, source)
        out: dict[str | None, list[tuple[Any, str]]] = {}
        for role in roles:
            method, _, path = source.partition(" ")
            req = build_request(
                operation=source,
                method=method,
                path=path,
                query=query,
                headers=(("accept", "application/json"),),
                role=role,
                mode="pool",
            )
            resp = ctx.pair.send_one("legacy", req)
            if 200 <= resp.status < 300:
                items = _items(resp.body)
                # the items' field of the parameter's own name ({topic}), else their id
                key = field or (param if any(param in i for i in items) else "id")
                out[role] = row_states(items, key)
        return out


def _grown(req: PreparedRequest, size: int) -> PreparedRequest | None:
    """``req`` with its body grown to about ``size`` bytes (None: nothing to grow)."""
    body = req.body
    try:
        if isinstance(body, dict) and isinstance(body.get("multipart"), list):
            parts = body["multipart"]
            if not all(isinstance(p, dict) and "text" in p for p in parts):
                return None  # a part too large or not text: not rebuilt from the record
            index = next(
                (i for i, p in enumerate(parts) if isinstance(p, dict) and "text" in p), None
            )
            if index is None:
                return None
            part = parts[index]
            text = grown(part["text"], size, part.get("contentType"), part.get("filename"))
            new = [*parts[:index], {**part, "text": text}, *parts[index + 1 :]]
            out = multipart_request(req, new, body.get("fields"))
        elif isinstance(body, dict) and body is not NOT_SET:
            strings = [k for k, v in body.items() if isinstance(v, str)]
            if not strings:
                return None
            longest = max(strings, key=lambda k: len(body[k]))
            out = rebuild(req, json_body={**body, longest: "a" * size})
        else:
            return None
    except ENCODING_ERRORS:
        return None
    return replace(out, mode="positive", path_params=req.path_params)


def _largest_page(ctx: RunContext, source: str) -> tuple[tuple[str, str], ...]:
    """The list operation's page-size parameter (an integer query parameter named like a
    limit or a page size) at the maximum the contract allows, so the list shows more rows
    to choose states from."""
    try:
        api = ctx.contract.get(source).api
    except (KeyError, HarnessError):
        return ()
    if api is None:
        return ()
    out: list[tuple[str, str]] = []
    for param in api.definition.raw.get("parameters") or []:
        param = resolve_ref(param, ctx.contract.raw)
        if not isinstance(param, dict) or param.get("in") != "query":
            continue
        schema = resolve_ref(param.get("schema") or {}, ctx.contract.raw)
        top = schema.get("maximum") if isinstance(schema, dict) else None
        if (
            isinstance(top, int)
            and not isinstance(top, bool)
            and _PAGE_SIZE.search(str(param.get("name")))
        ):
            out.append((str(param["name"]), str(top)))
    return tuple(out)


def _linked(
    ctx: RunContext,
    op: Operation,
    link: Link,
    created: ExchangeResult,
    role: str | None,
    index: int = 0,
) -> tuple[PreparedRequest, PreparedRequest] | None:
    lstatus, cstatus = created.legacy.status, created.candidate.status
    if not (str(lstatus) == str(cstatus) == link.status) and not (
        link.status in (str(lstatus), str(cstatus))
        and ctx.rules(created.request.operation).same_status(lstatus, cstatus)
    ):
        return None  # a status rule makes the two answers the same: follow it as if equal
    bases = ctx.cases.pool(op.id)
    if not bases:
        return None
    base = replace(bases[0], role=role, mode="positive")
    base = ctx.fixtures.apply_all(base, op, index, skip=frozenset(n for n, _ in link.parameters))
    out: list[PreparedRequest] = []
    for resp, reference in ((created.legacy, None), (created.candidate, created.legacy)):
        values = {
            name: resolve(expr, created.request, resp, reference) for name, expr in link.parameters
        }
        if any(v is None for v in values.values()):
            return None
        out.append(replace(fill(base, op.path, values), operation=op.id))
    return out[0], out[1]


def _path_table(op: Operation, param: str) -> str:
    """The table a path parameter indexes: ``/jobs/{id}`` -> ``jobs``."""
    head = op.path.split("{" + param + "}", 1)[0].rstrip("/")
    return head.rsplit("/", 1)[-1].replace("-", "_").lower()


_SNAPSHOT_STATES = ("scoped in (snapshot)", "scoped out (snapshot)")


def _uncount_refused_states(ctx: RunContext, op: Operation, tallies: dict[str, GroupTally]) -> None:
    """A row state (or a row the role cannot see) the legacy refused on every request, while
    another state of the operation succeeded, is the service's rule for that state (a
    closed case takes no edit, another unit's row is 403/404): its requests are taken out
    of the phase's proof, which asks whether requests meant to succeed did. A 401 is never
    a rule of the state (a lost session), nor is a state where the legacy failed as a
    whole: with no state succeeding nothing is taken out."""
    if not any(t.legacy_succeeded for t in tallies.values()):
        return
    meant = ctx.stats.meant.setdefault("rows", Counter())
    refused = []
    for state, tally in tallies.items():
        if tally.sent and not tally.legacy_succeeded and 401 not in tally.legacy:
            meant["sent"] -= tally.sent
            meant["succeeded"] -= tally.succeeded
            refused.append(f"{state} ({tally.sent}: {_statuses(tally)})")
    if refused:
        ctx.stats.notes.append(
            f"rows {op.id}: refused by the legacy in every request, not counted as meant to "
            "succeed: " + ", ".join(refused)
        )


def _statuses(tally: GroupTally) -> str:
    return "/".join(str(status) for status, _ in tally.legacy.most_common())


def _tag_snapshot_ids(
    ctx: RunContext,
    op: Operation,
    param: str,
    visible: dict[str | None, list[tuple[Any, str]]],
    cases: list[PreparedRequest],
) -> list[PreparedRequest]:
    """The cases whose path id the value source took from the data (no list answer showed
    it), noted as such (``PreparedRequest.data_values``: masked in reports in URL mode)."""
    ids = {v for found in visible.values() for v, state in found if state in _SNAPSHOT_STATES}
    source = value_source(ctx) if ids else None
    if source is None:
        return cases
    table = _path_table(op, param)
    seen = {str(v) for shown in source.seen_ids.get(table, {}).values() for v in shown}
    stored = {str(v) for v in ids} - seen
    slot = Slot(param, "path", (param,))
    return [
        tag_value(c, source, slot, f"db:{table}.id")
        if dict(c.path_params).get(param) in stored
        else c
        for c in cases
    ]


def _snapshot_visible(
    ctx: RunContext, op: Operation, param: str, roles: list[str | None]
) -> dict[str | None, list[tuple[Any, str]]]:
    """No list to ask: the rows of the table the path names (``/jobs/{id}``: jobs) that each
    role's user row scopes in and out in the snapshot (``ValueSource.ids_of``), the ones it
    can see, then the ones it cannot (sent as that role: the 403/404 boundary)."""
    if ctx.profile.scoped_values <= 0:
        return {}
    source = value_source(ctx)
    table = _path_table(op, param)
    if source is None or not table:
        return {}
    out: dict[str | None, list[tuple[Any, str]]] = {}
    for role in roles:
        mine, others = source.ids_of(table, role)
        found = [(v, _SNAPSHOT_STATES[0]) for v in mine[:MAX_STATES]]
        found += [(v, _SNAPSHOT_STATES[1]) for v in others[:MAX_HIDDEN]]
        if found:
            out[role] = found
    return out


def _list_operation(ctx: RunContext, op: Operation) -> str | None:
    """``GET /cases`` for ``/cases/{id}...``: the collection the parameter indexes."""
    head = op.path.split("{", 1)[0].rstrip("/")
    candidate = f"GET {head}"
    ids = {o.id for o in ctx.contract.operations}
    return candidate if candidate in ids and "{" not in head else None


def _sql_values(ctx: RunContext, sql: str) -> list[Any]:
    snapshot = ctx.pair.snapshot
    if snapshot is None:
        return []
    conn = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    try:
        return [row[0] for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()
