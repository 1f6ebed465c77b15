"""Combined inputs: a pairwise covering array over an operation's optional query parameters,
so every pair of (parameter, interesting value), absent included, meets in some case
(filters with each other, with paging and sort). Drifts that survive one-at-a-time variation
sit where two inputs meet; a covering array keeps the count near the number of pairs, not
their product. The arrays come from allpairspy (a maintained greedy generator).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import Any

from allpairspy import AllPairs

from harness.cases.edges import resolve_ref

__all__ = ["ABSENT", "covered_pairs", "pairwise", "query_dimensions"]

ABSENT = object()  # the parameter left out
PER_PARAM = 4  # interesting values per parameter (besides absent): pairs stay few


def _interesting(schema: Any, root: dict[str, Any]) -> list[Any]:
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict):
        return []
    out: list[Any] = list(schema.get("enum") or [])
    kind = schema.get("type")
    if kind == "boolean":
        out += [True, False]
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if isinstance(low, int):
            out += [low, low + 1]
        if isinstance(schema.get("default"), int):
            out.append(schema["default"])
        if isinstance(high, int):
            out.append(high)
    out += list(schema.get("examples") or [])
    if "example" in schema:
        out.append(schema["example"])
    return list(dict.fromkeys(v for v in out if not isinstance(v, dict | list)))[:PER_PARAM]


def query_dimensions(
    parameters: list[Any], root: dict[str, Any], extra: Callable[[str], list[Any]] | None = None
) -> list[tuple[str, list[Any]]]:
    """(name, [ABSENT, values...]) per optional query parameter with values worth crossing:
    enum values, booleans, integer bounds and defaults, examples, then ``extra(name)`` (values
    from the data)."""
    out: list[tuple[str, list[Any]]] = []
    for param in parameters:
        param = resolve_ref(param, root)
        if not isinstance(param, dict) or param.get("in") != "query" or param.get("required"):
            continue
        values = _interesting(param.get("schema"), root)
        if extra is not None and len(values) < PER_PARAM:
            values += [v for v in extra(param["name"]) if v not in values]
        values = values[:PER_PARAM]
        if values:
            out.append((param["name"], [ABSENT, *values]))
    return out


def covered_pairs(dims: list[tuple[str, list[Any]]], rows: list[list[Any]]) -> tuple[int, int]:
    """(pairs the rows cover, pairs that exist) over every two dimensions."""
    total = sum(len(a[1]) * len(b[1]) for a, b in combinations(dims, 2))
    seen: set[tuple[int, int, int, int]] = set()
    for row in rows:
        for i, j in combinations(range(len(dims)), 2):
            seen.add((i, dims[i][1].index(row[i]), j, dims[j][1].index(row[j])))
    return len(seen), total


def pairwise(dims: list[tuple[str, list[Any]]], budget: int) -> list[list[Any]]:
    """At most ``budget`` rows of a pairwise covering array (one value per dimension), the
    rows that cover the most new pairs first (allpairspy's greedy order)."""
    if len(dims) < 2 or budget <= 0:
        return []
    rows: list[list[Any]] = []
    for row in AllPairs([values for _, values in dims]):
        rows.append(list(row))
        if len(rows) >= budget:
            break
    return rows
