"""Row states crossed with write bodies: for an operation that names a row, a pairwise covering
array over (the row, in each state the rows phase found it) and each body field's interesting
values (enum values, ``null`` where nullable, absent where optional, fixture values, bounds),
so every (state, field value) pair and every two field values meet in some request. A rule
like "a closed case may only be reopened, with nothing else changed" is broken where a
state meets a value and another field, which one-at-a-time variation never sends. The
array comes from allpairspy (:func:`harness.cases.combos.pairwise`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.cases.combos import ABSENT, pairwise
from harness.cases.edges import resolve_ref

__all__ = ["KEEP", "RowState", "body_dimensions", "body_for", "state_body_rows"]

KEEP = object()  # the field as the base case has it (an optional field with nothing to vary)
PER_FIELD = 5  # values per field besides absent: pairs stay few


@dataclass(frozen=True)
class RowState:
    """One row as one role sees it: the id to put in the path and the state it is in."""

    role: str | None
    value: Any
    state: str


def _nullable(schema: dict[str, Any], root: dict[str, Any]) -> bool:
    if schema.get("nullable") is True:
        return True
    kind = schema.get("type")
    if isinstance(kind, list) and "null" in kind:
        return True
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            sub = resolve_ref(sub, root)
            if isinstance(sub, dict) and (sub.get("type") == "null" or sub.get("enum") == [None]):
                return True
    return False


def _types(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of ``anyOf``/``oneOf`` (``{type: integer} | null``), else ``schema``."""
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            sub = resolve_ref(sub, root)
            if isinstance(sub, dict) and sub.get("type") not in (None, "null"):
                return sub
    return schema


def _field_values(schema: Any, root: dict[str, Any]) -> list[Any]:
    """A field's interesting values from its schema: enum values, booleans, bounds, examples."""
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict):
        return []
    inner = _types(schema, root)
    out: list[Any] = [v for v in inner.get("enum") or [] if v is not None]
    kind = inner.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "boolean":
        out += [True, False]
    elif kind in ("integer", "number"):
        for bound in ("minimum", "maximum"):
            value = inner.get(bound)
            if isinstance(value, int | float) and not isinstance(value, bool):
                out.append(value)
    elif kind == "string" and not out:
        low, high = inner.get("minLength"), inner.get("maxLength")
        if isinstance(low, int) and low > 0 and "format" not in inner and "pattern" not in inner:
            out.append("a" * low)
        if (
            isinstance(high, int)
            and high <= 256
            and "format" not in inner
            and "pattern" not in inner
        ):
            out.append("z" * high)
    out += list(inner.get("examples") or [])
    if "example" in inner:
        out.append(inner["example"])
    if _nullable(schema, root):
        out.append(None)
    return list(dict.fromkeys(v for v in out if not isinstance(v, dict | list)))


def body_dimensions(
    schema: Any, root: dict[str, Any], extra: Callable[[str], list[Any]] | None = None
) -> list[tuple[str, list[Any]]]:
    """(field, [ABSENT?, values...]) per top-level property of a JSON object body: the
    schema's interesting values, then ``extra(field)`` (fixture values), absent first when
    the field is optional; an optional field with nothing to vary is (absent, as drawn)."""
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict):
        return []
    for key in ("allOf",):
        for sub in schema.get(key) or []:
            sub = resolve_ref(sub, root)
            if isinstance(sub, dict) and sub.get("properties"):
                schema = {**sub, **{k: v for k, v in schema.items() if k != key}}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.get("required") or [])
    out: list[tuple[str, list[Any]]] = []
    for name, sub in props.items():
        sub = resolve_ref(sub, root)
        if isinstance(sub, dict) and sub.get("readOnly"):
            continue
        values = _field_values(sub, root)
        if extra is not None:
            values += [v for v in extra(name) if v not in values]
        # nulls and fixture values stay in: the cap takes from the schema's long lists
        head = [v for v in values if v is not None][:PER_FIELD]
        if None in values:
            head = [*head[: PER_FIELD - 1], None]
        if name not in required:
            head = [ABSENT, *head] if head else [ABSENT, KEEP]
        if head:
            out.append((name, head))
    return out


def state_body_rows(
    states: list[RowState], dims: list[tuple[str, list[Any]]], budget: int
) -> tuple[list[tuple[str, list[Any]]], list[list[Any]]]:
    """The dimensions with the row first (its values the ``states``) and at most ``budget``
    rows of their pairwise covering array, the rows covering the most new pairs first."""
    if not states or not dims:
        return [], []
    every = [("row", list(states)), *dims]
    return every, pairwise(every, budget)


def body_for(
    base: dict[str, Any], dims: list[tuple[str, list[Any]]], row: list[Any]
) -> dict[str, Any]:
    """``base`` with each dimension's field set to the row's value (absent: left out; KEEP:
    as in ``base``). ``dims`` and ``row`` without the row dimension."""
    out = dict(base)
    for (name, _), value in zip(dims, row, strict=True):
        if value is ABSENT:
            out.pop(name, None)
        elif value is not KEEP:
            out[name] = value
    return out
