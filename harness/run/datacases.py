"""Cases with values from the data: the operation's positive generated cases again, with
string, id and date-time query parameters and top-level body fields set to values the
snapshot holds (:mod:`harness.cases.datavalues`), so a filter or search matches real rows.

A name ``[fixtures]`` configures is left to it (the override); a search term (``q``,
``search``...) with no column of its name takes words of stored texts; a date-time with no
column of its name takes the stored instants. At most ``Profile.data_values`` cases per
operation, values taken in turn across the slots and roles.

Scoped cases (:func:`scoped_cases`, ``Profile.scoped_values``) come first: values found only
in rows of one unit, team or owner (or only in rows without one) in the query parameters
that select or match rows, as each role, alone and with the scope's own filter parameter at
the role's scope and at the value's; and id fields (query, body) at ids of rows the sending
role can and cannot see.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.cases.combos import ABSENT, covered_pairs, pairwise, query_dimensions
from harness.cases.datavalues import Paired, Scoped, ValueSource
from harness.cases.edges import resolve_ref
from harness.cases.fixtures import Slot, apply, list_items
from harness.cases.generation import build_request
from harness.cases.masking import SHOW_HINT
from harness.cases.paging import page_size_of
from harness.models import DataValue

if TYPE_CHECKING:
    from harness.models import PreparedRequest
    from harness.run.context import RunContext
    from harness.setup.contract import Operation

__all__ = [
    "combination_cases",
    "data_cases",
    "data_slots",
    "scoped_cases",
    "tag_value",
    "value_source",
]

_SIDES = ("legacy", "candidate")
_TERM = re.compile(r"^(q|query|search|term|text|keyword|keywords|filter|name)$", re.IGNORECASE)


def _data_file(ctx: RunContext) -> Path | None:
    """The SQLite file values are learned from: the seeded snapshot (managed mode); in URL
    mode with ``[external] databases``, the legacy's baseline copy (taken after the logins,
    before the first case, through SQLite's backup API: the user's file is only read)."""
    if ctx.pair.snapshot is not None:
        return ctx.pair.snapshot
    legacy = ctx.pair.watchers.get("legacy")
    if ctx.pair.mode == "external" and getattr(legacy, "engine", None) == "sqlite":
        baseline = getattr(legacy, "baseline", None)
        return Path(baseline) if baseline is not None else None
    return None


def value_source(ctx: RunContext) -> ValueSource | None:
    """The run's value source, learned once from the seeded snapshot (managed mode) or the
    legacy's database (URL mode: a user's data, every origin private)."""
    cached: object = getattr(ctx, "_data_values", False)
    if cached is None or isinstance(cached, ValueSource):
        return cached
    source: ValueSource | None = None
    snapshot = _data_file(ctx)
    private = ctx.pair.mode == "external"
    if snapshot is not None:
        source = ValueSource()
        source.learn_sqlite(snapshot, private=private)
        if private:
            ctx.stats.notes.append(
                "data values: learned from the legacy's database (URL mode)"
                + ("" if ctx.config.external.show_data_values else f"; {SHOW_HINT}")
            )
        if ctx.profile.scoped_values > 0:
            source.learn_scoped(snapshot, private=private)
            auth = ctx.config.auth
            logins = {
                name: role.body
                for name, role in (auth.roles.items() if auth is not None else ())
                if role.body
            }
            source.learn_roles(snapshot, logins)
        # rows written since the snapshot (logins...): each side's own stamped instants
        watchers = ctx.pair.watchers
        if all(k in watchers and watchers[k].engine == "sqlite" for k in _SIDES):
            source.learn_paired(*(Path(str(watchers[k].live)) for k in _SIDES), private=private)
    if ctx.config.traffic.values_from:
        source = source or ValueSource()
        _learn_traffic(ctx, source)
    setattr(ctx, "_data_values", source)  # noqa: B010 (once per run, on the run's context)
    return source


def _learn_traffic(ctx: RunContext, source: ValueSource) -> None:
    """``[traffic] values_from``: what real callers sent, as values for the same names."""
    from harness.traffic.capture import Pseudonymizer, Redactor
    from harness.traffic.har import read_traffic
    from harness.traffic.values import feed_values

    settings = ctx.config.traffic
    redactor = Redactor.build(
        Pseudonymizer.from_env(),
        headers=settings.redact_headers,
        fields=settings.redact_fields,
        personal=settings.pseudonymize,
    )
    captures = [
        read_traffic(ctx.config.resolve(name), redactor, keep_going=True)
        for name in settings.values_from
    ]
    offered = feed_values(source, captures)
    broken = sum(len(c.problems) for c in captures)
    ctx.stats.notes.append(
        f"data values: {offered} values from traffic ({', '.join(c.source for c in captures)}"
        + (f"; {broken} broken entries skipped" if broken else "")
        + ")"
    )


def _kind(schema: Any, root: dict[str, Any]) -> str | None:
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict) or "enum" in schema:
        return None
    kind = schema.get("type")
    if kind == "string":
        return "time" if schema.get("format") in ("date-time", "date") else "text"
    if kind == "integer":
        return "integer"
    return None


def data_slots(op: Operation, root: dict[str, Any]) -> list[tuple[Slot, str]]:
    """Query parameters and top-level JSON body fields that could select or match rows."""
    if op.api is None:
        return []
    definition = op.api.definition.raw
    out: list[tuple[Slot, str]] = []
    for param in definition.get("parameters") or []:
        param = resolve_ref(param, root)
        if isinstance(param, dict) and param.get("in") == "query":
            kind = _kind(param.get("schema"), root)
            if kind is not None:
                out.append((Slot(param["name"], "query", (param["name"],)), kind))
    content = ((definition.get("requestBody") or {}).get("content") or {}).get("application/json")
    if isinstance(content, dict):
        schema = resolve_ref(content.get("schema"), root)
        for key, prop in ((schema or {}).get("properties") or {}).items():
            kind = _kind(prop, root)
            if kind is not None:
                out.append((Slot(key, "body", (key,)), kind))
    return out


def _ranked(source: ValueSource, suffix: str, path: str) -> list[tuple[Any, str]]:
    """(value, origin) of every column whose origin ends with ``suffix``, those of a table
    the path names (``/api/events`` -> ``events``) first."""
    segments = {s.lower() for s in re.split(r"[/{}]", path) if s}
    pairs = [(v, o) for v, o in source.all() if o.endswith(suffix)]

    def named(origin: str) -> bool:
        table = origin[3:].split(".", 1)[0].lower()
        return table in segments or table.rstrip("s") in segments

    paired = [(v, o) for o, vals in source.paired.items() if o.endswith(suffix) for v in vals]
    # a named table's own stamped instants first (their exact values are the boundaries)
    return (
        [(v, o) for v, o in paired if named(o)]
        + [(v, o) for v, o in pairs if named(o)]
        + [(v, o) for v, o in pairs if not named(o)]
        + [(v, o) for v, o in paired if not named(o)]
    )


def _required_query(op: Operation, root: dict[str, Any]) -> set[str]:
    params = [resolve_ref(p, root) for p in op.api.definition.raw.get("parameters") or []]
    return {
        p["name"]
        for p in params
        if isinstance(p, dict) and p.get("in") == "query" and p.get("required")
    }


def _values(source: ValueSource, name: str, kind: str, path: str = "") -> list[tuple[Any, str]]:
    """(value, origin) for a slot of this name and kind, each value once."""
    found = source.for_field(name)
    if kind == "integer":
        found = [(v, o) for v, o in found if isinstance(v, int) and not isinstance(v, bool)]
        return found if re.search(r"(^id$|Id$|_id$)", name) else []
    found = [(v, o) for v, o in found if isinstance(v, str)]
    if kind == "time":  # a column of the parameter's name: its stamped instants first
        key = "." + _snake(name) + ":time"
        paired = [(v, o) for o, vals in source.paired.items() if o.endswith(key) for v in vals]
        found = [*paired, *found]
    if not found and kind == "time":
        found = _ranked(source, ":time", path)
    if not found and kind == "text" and _TERM.match(name):
        found = _ranked(source, ":words", path)
    seen: dict[Any, str] = {}
    for value, origin in found:
        seen.setdefault(value, origin)
    return list(seen.items())


def tag_value(
    req: PreparedRequest, source: ValueSource, slot: Slot, origin: str | None
) -> PreparedRequest:
    """``req`` noting that ``slot`` holds a value from ``origin`` (private where the source
    masks it: a user's data), in place of an earlier note on the same place."""
    if origin is None:
        return req
    mark = DataValue(slot.location, slot.keys, origin, source.is_private(origin))
    kept = tuple(d for d in req.data_values if (d.location, d.keys) != (mark.location, mark.keys))
    return replace(req, data_values=(*kept, mark))


def data_cases(
    ctx: RunContext, op: Operation, cases: list[PreparedRequest]
) -> list[tuple[PreparedRequest, PreparedRequest | None]]:
    """The positive cases again with values from the data, within the profile's budget:
    (request, the candidate's own request where its value differs, else None)."""
    budget = ctx.profile.data_values
    positive = [c for c in cases if c.mode == "positive"]
    if budget <= 0 or not positive:
        return []
    source = value_source(ctx)
    if source is None:
        return []
    configured = set(ctx.config.fixture_rules())
    slots = [
        (slot, vals)
        for slot, kind in data_slots(op, ctx.contract.raw)
        if slot.name not in configured and (vals := _values(source, slot.name, kind, op.path))
    ]
    if not slots:
        return []
    roles = ctx.roles()
    required = _required_query(op, ctx.contract.raw)
    known = {c.signature() for c in cases}
    out: list[tuple[PreparedRequest, PreparedRequest | None]] = []
    width = max(len(v) for _, v in slots)
    for i in range(width * len(slots)):
        if len(out) >= budget:
            break
        slot, vals = slots[i % len(slots)]
        value, origin = vals[(i // len(slots)) % len(vals)]
        bases = [c for c in positive if slot.location != "body" or isinstance(c.body, dict)]
        if not bases:
            continue
        # each slot's first values on the barest case, its optional query parameters left
        # out (other generated filters would hide the rows a value matches), later ones on
        # the other cases in turn
        if i < 2 * len(slots):
            pick = min(bases, key=lambda c: len(c.query))
            pick = replace(pick, query=tuple((k, v) for k, v in pick.query if k in required))
        else:
            pick = bases[i % len(bases)]
        # a round of values per role, the first role (commonly the widest) first
        base = replace(pick, role=roles[(i // len(slots)) % len(roles)])
        mine = None
        if isinstance(value, Paired):
            mine = apply(base, op, slot, value.candidate)
            mine = mine and tag_value(mine, source, slot, origin)
            value = value.legacy
        one = apply(base, op, slot, value)
        if one is None or one.signature() in known:
            continue
        one = tag_value(one, source, slot, origin)
        known.add(one.signature())
        out.append((one, mine))
    return out


def combination_cases(
    ctx: RunContext, op: Operation, cases: list[PreparedRequest]
) -> list[PreparedRequest]:
    """Positive cases whose optional query parameters follow a pairwise covering array
    (:mod:`harness.cases.combos`), within ``Profile.combinations`` per operation; the
    pairs covered are noted per operation."""
    budget = ctx.profile.combinations
    positive = [c for c in cases if c.mode == "positive"]
    if budget <= 0 or not positive or op.api is None:
        return []
    root = ctx.contract.raw
    source = value_source(ctx)
    configured = set(ctx.config.fixture_rules())
    kinds = {s.name: k for s, k in data_slots(op, root) if s.location == "query"}

    from_data: dict[tuple[str, str], str] = {}  # (name, text) -> origin

    def extra(name: str) -> list[Any]:
        if source is None or name in configured or name not in kinds:
            return []
        found = _values(source, name, kinds[name], op.path)
        picked = [(v, o) for v, o in found if not isinstance(v, Paired)][:2]
        from_data.update({(name, _text(v)): o for v, o in picked})
        return [v for v, _ in picked]

    dims = query_dimensions(op.api.definition.raw.get("parameters") or [], root, extra)
    rows = pairwise(dims, budget)
    if not rows:
        return []
    covered, total = covered_pairs(dims, rows)
    ctx.stats.notes.append(f"pairwise {op.id}: {covered} of {total} pairs in {len(rows)} cases")
    required = _required_query(op, root)
    base = min(positive, key=lambda c: len(c.query))
    kept = tuple((k, v) for k, v in base.query if k in required)
    roles = ctx.roles()
    known = {c.signature() for c in cases}
    out: list[PreparedRequest] = []
    for index, row in enumerate(rows):
        query = kept + tuple(
            (name, _text(value))
            for (name, _), value in zip(dims, row, strict=True)
            if value is not ABSENT
        )
        one = replace(base, query=query, role=roles[index % len(roles)])
        if source is not None:
            for name, text in query:
                slot = Slot(name, "query", (name,))
                one = tag_value(one, source, slot, from_data.get((name, text)))
        if one.signature() not in known:
            known.add(one.signature())
            out.append(one)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _interleave(lists: list[list[Any]]) -> list[Any]:
    out: list[Any] = []
    for index in range(max((len(v) for v in lists), default=0)):
        out += [v[index] for v in lists if index < len(v)]
    return out


def _observe(ctx: RunContext, source: ValueSource, name: str) -> None:
    """The ids each role is shown by the list of the table an id field names (``caseId``:
    ``GET .../cases``, its page size at the contract's maximum), once per run and table."""
    tables = source.tables_named(name)
    tried: set[str] = getattr(source, "_observed", set())
    if not tables or tables[0] in tried:
        return
    tried.add(tables[0])
    setattr(source, "_observed", tried)  # noqa: B010 (once per run, on the run's source)
    lists = [
        o
        for o in ctx.contract.operations
        if o.method == "GET"
        and "{" not in o.path
        and o.path.rstrip("/").rsplit("/", 1)[-1].replace("-", "_").lower() in tables
        and o.api is not None
    ]
    if not lists:
        return
    op = lists[0]
    table = op.path.rstrip("/").rsplit("/", 1)[-1].replace("-", "_").lower()
    size = page_size_of(op.api.definition.raw.get("parameters") or [], ctx.contract.raw)
    query = ((size.name, str(size.maximum)),) if size and size.maximum else ()
    for role in ctx.roles():
        if role is None:
            continue
        req = build_request(
            operation=op.id,
            method="GET",
            path=op.path,
            query=query,
            headers=(("accept", "application/json"),),
            role=role,
            mode="pool",
        )
        resp = ctx.pair.send_one("legacy", req)
        if 200 <= resp.status < 300:
            ids = [i.get("id") for i in list_items(resp.body) if i.get("id") is not None]
            source.observe(table, role, ids)


def scoped_cases(
    ctx: RunContext, op: Operation, cases: list[PreparedRequest]
) -> list[PreparedRequest]:
    """Values only in some scopes' rows, and ids each role can and cannot see, within
    ``Profile.scoped_values`` per operation (module docstring); sent before the other data
    cases, so a port that scopes a search, list or lookup differently is reached first."""
    budget = ctx.profile.scoped_values
    positive = [c for c in cases if c.mode == "positive"]
    if budget <= 0 or not positive:
        return []
    source = value_source(ctx)
    if source is None or not source.scoping:
        return []
    root = ctx.contract.raw
    configured = set(ctx.config.fixture_rules())
    slots = [(s, k) for s, k in data_slots(op, root) if s.name not in configured]
    filters = {_snake(s.name): s for s, _ in slots if s.location == "query"}
    filters = {k: v for k, v in filters.items() if k in source.scopes}
    roles = ctx.roles()
    # (slot, value, scope column, the value's scope) per matching slot; ids per role apart
    matching: list[list[tuple[Any, Scoped]]] = []
    ids: list[Any] = []
    for slot, kind in slots:
        if slot.location == "query" and _snake(slot.name) in filters:
            continue
        if kind == "integer" and re.search(r"(Id|_id)$", slot.name):
            _observe(ctx, source, slot.name)
            if any(any(source.ids_for(slot.name, r)) for r in roles):
                ids.append(slot)
            continue
        if slot.location != "query" or kind == "time":
            continue  # body fields but ids: what a write stores, not what selects rows
        found = source.scoped_for(slot.name)
        if kind == "integer":
            found = [v for v in found if isinstance(v.value, int)]
        else:
            found = [v for v in found if isinstance(v.value, str)]
        if not found and kind == "text" and _TERM.match(slot.name):
            found = source.scoped_texts()
        if found:
            matching.append([(slot, v) for v in found])
    if not matching and not ids:
        return []
    required = _required_query(op, root)

    def base_for(slot: Any) -> PreparedRequest | None:
        bases = [c for c in positive if slot.location != "body" or isinstance(c.body, dict)]
        if not bases:
            return None
        pick = min(bases, key=lambda c: len(c.query))
        return replace(pick, query=tuple((k, v) for k, v in pick.query if k in required))

    # slot, (value, its origin), role, the scope filter, (its value, its origin)
    Plan = tuple[Any, tuple[Any, str | None], str | None, Any, tuple[Any, str | None]]
    plans: list[Plan] = []
    for slot, found in _interleave(matching):
        table = found.origin.removeprefix("db:").split(".", 1)[0]
        at_origin = f"db:{table}.{found.scope_column}"
        for role in roles:
            own = source.role_scopes.get(role or "", {}).get(found.scope_column)
            plans.append((slot, (found.value, found.origin), role, None, (None, None)))
            filt = filters.get(found.scope_column)
            if filt is None:
                continue
            if own is not None:  # the caller filters on its own scope: the value is elsewhere
                plans.append((slot, (found.value, found.origin), role, filt, (own, at_origin)))
            if found.scope is not None and found.scope != own:
                plans.append(
                    (slot, (found.value, found.origin), role, filt, (found.scope, at_origin))
                )
    id_plans: list[list[Plan]] = []
    for slot in ids:
        for role in roles:
            mine, others = source.ids_for(slot.name, role)
            # a row the role cannot see first (the 403/404 boundary), then one it can
            id_plans.append(
                [
                    (slot, (v, source.id_origin(slot.name, v)), role, None, (None, None))
                    for v in _interleave([others, mine])
                ]
            )
    ordered = _interleave([plans, _interleave(id_plans)])
    known = {c.signature() for c in cases}
    out: list[PreparedRequest] = []
    shown = 0
    for slot, (value, origin), role, filt, (at, at_from) in ordered:
        if len(out) >= budget:
            break
        base = base_for(slot)
        if base is None:
            continue
        one = apply(replace(base, role=role), op, slot, value)
        one = one and tag_value(one, source, slot, origin)
        if one is not None and filt is not None:
            one = apply(one, op, filt, at)
            one = one and tag_value(one, source, filt, at_from)
        if one is None or one.signature() in known:
            continue
        known.add(one.signature())
        out.append(one)
        shown += filt is not None
    if out:
        ctx.stats.notes.append(
            f"scoped values {op.id}: {len(out)} cases ({shown} with a scope filter)"
        )
    return out
