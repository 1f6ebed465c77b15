"""Existing rows: every operation that names a row by a path parameter, sent for real rows.

Generated ids are random, so nearly every generated case of ``PATCH /cases/{id}`` is a 404.
This phase draws ids from pools instead: values the config names (``[[pool]] values``), a
SQL query on the snapshot (``sql``), or, by default, the collection's own list operation
(``GET /cases`` for ``/cases/{id}``) as each role sees it. From a list it picks one row per
state (the combination of the items' low-cardinality fields: each ``status``, with and
without an assignee, ...), and, for each role, rows only other roles can see (the 403/404
paths). Both sides get the same request bytes.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from typing import Any

from harness.context import RunContext
from harness.contract import Link, Operation, match_operation
from harness.generation import build_request
from harness.models import ExchangeResult, PreparedRequest
from harness.stateful import fill, resolve

__all__ = ["Rows", "row_states"]

LABEL_SUFFIX = " · existing rows"
_PARAM = re.compile(r"\{([^}]+)\}")
MAX_STATES = 6  # rows per role and parameter, one per distinct state
MAX_HIDDEN = 2  # rows a role cannot see, per role


def _items(body: Any) -> list[dict[str, Any]]:
    """The list of objects in a list response: the body itself, or its first array field."""
    if isinstance(body, list):
        return [x for x in body if isinstance(x, dict)]
    if isinstance(body, dict):
        for value in body.values():
            if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
                return list(value)
    return []


def row_states(items: list[dict[str, Any]], key: str) -> list[tuple[Any, str]]:
    """(id, state) for one row per distinct state, states in first-seen order.

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
    seen: dict[str, Any] = {}
    for item in items:
        if item.get(key) is None:
            continue
        parts = [f"{n}={item.get(n)!r}" for n in low]
        parts += [f"{n} {'set' if item.get(n) is not None else 'null'}" for n in nullable]
        state = ", ".join(parts) or "any"
        seen.setdefault(state, item[key])
    return [(value, state) for state, value in list(seen.items())[:MAX_STATES]]


class Rows:
    name = "rows"

    def execute(self, ctx: RunContext) -> None:
        for op in ctx.selected:
            params = _PARAM.findall(op.path)
            if not params or op.api is None:
                continue
            cases = self._cases(ctx, op, params[0])
            if cases:
                ctx.replay_all(op.id + LABEL_SUFFIX, op, cases, phase="rows")
            if not ctx.stats.proven(op):
                self._created_first(ctx, op)

    def _created_first(self, ctx: RunContext, op: Operation) -> None:
        """No existing row got a success (the snapshot has none, or none this role may
        touch): create one through an operation that links here, then send ``op`` for it,
        each side with the id its own create returned; restored after each pair."""
        links = [link for link in ctx.contract.links if link.target == op.id and link.parameters]
        selected = {o.id for o in ctx.selected}
        stats = ctx.stats.op(op)
        for link in links[:2]:
            if link.source not in selected or not ctx.cases.pool(link.source):
                continue
            for role in ctx.roles():
                source = replace(ctx.cases.pool(link.source)[0], role=role)
                created = ctx.exchange(source, restore=False)
                pair = _linked(ctx, op, link, created, role)
                if pair is not None:
                    result = ctx.exchange(pair[0], pair[1], restore=False)
                    stats.add(result, not ctx.findings.live(result))
                    ctx.findings.record(result, "rows")
                    ctx.stats.row_states.setdefault(op.id, set()).add(f"created by {link.source}")
                ctx.pair.restore()
                if ctx.stats.proven(op):
                    return

    def _cases(self, ctx: RunContext, op: Operation, param: str) -> list[PreparedRequest]:
        bases = ctx.cases.pool(op.id)[:2]
        if not bases:
            return []
        visible = self._visible(ctx, op, param)
        if not visible:
            return []
        everyone = {v for ids in visible.values() for v, _ in ids}
        out: list[PreparedRequest] = []
        for role, ids in visible.items():
            hidden = sorted(everyone - {v for v, _ in ids}, key=str)[:MAX_HIDDEN]
            chosen = [v for v, _ in ids] + hidden
            for index, value in enumerate(chosen):
                base = bases[index % len(bases)]
                req = fill(replace(base, role=role, mode="positive"), op.path, {param: value})
                out.append(replace(req, operation=op.id))
        ctx.stats.row_states.setdefault(op.id, set()).update(
            state for ids in visible.values() for _, state in ids
        )
        return out

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
        source = rule.source if rule is not None and rule.source else _list_operation(ctx, op)
        if source is None:
            return {}
        key = rule.field if rule is not None and rule.field else "id"
        out: dict[str | None, list[tuple[Any, str]]] = {}
        for role in roles:
            method, _, path = source.partition(" ")
            req = build_request(
                operation=source,
                method=method,
                path=path,
                query=(),
                headers=(("accept", "application/json"),),
                role=role,
                mode="pool",
            )
            resp = ctx.pair.send_one("legacy", req)
            if 200 <= resp.status < 300:
                out[role] = row_states(_items(resp.body), key)
        return out


def _linked(
    ctx: RunContext, op: Operation, link: Link, created: ExchangeResult, role: str | None
) -> tuple[PreparedRequest, PreparedRequest] | None:
    if str(created.legacy.status) != link.status or str(created.candidate.status) != link.status:
        return None
    bases = ctx.cases.pool(op.id)
    if not bases:
        return None
    base = replace(bases[0], role=role, mode="positive")
    out: list[PreparedRequest] = []
    for resp, reference in ((created.legacy, None), (created.candidate, created.legacy)):
        values = {
            name: resolve(expr, created.request, resp, reference) for name, expr in link.parameters
        }
        if any(v is None for v in values.values()):
            return None
        out.append(replace(fill(base, op.path, values), operation=op.id))
    return out[0], out[1]


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
