"""The write diff a finding shows: per table, the rows and the columns the two sides wrote
differently, side by side, with the full rows folded away.

Rows pair up as the comparison pairs them (``harness.compare.comparison.compare_writes``): inserted
rows in order, updated and deleted rows by their key. A cell is *flagged* when the finding
names it (its diff paths, like ``items[+0].price`` or ``items[rowid=3].price``); a cell whose
raw values differ but that the rules let through (a tolerance, a mask) is shown, unflagged,
so a reader sees what the rules forgave.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Cell", "RowDiff", "write_diff"]


@dataclass(frozen=True)
class Cell:
    column: str
    legacy: str
    candidate: str
    flagged: bool


@dataclass
class RowDiff:
    table: str
    kind: str  # inserted | updated | deleted
    label: str  # "+0", "rowid=3"
    only: str | None = None  # "legacy" | "candidate" when the other side has no such row
    cells: list[Cell] = field(default_factory=list)
    legacy_row: str = ""
    candidate_row: str = ""


def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False, default=str)


def _full(row: Mapping[str, Any] | None) -> str:
    return "" if row is None else json.dumps(row, indent=2, ensure_ascii=False, default=str)


def _cells(
    table: str,
    label: str,
    legacy: Mapping[str, Any] | None,
    candidate: Mapping[str, Any] | None,
    flagged: set[str],
) -> list[Cell]:
    lrow, crow = legacy or {}, candidate or {}
    cells = []
    for column in sorted(set(lrow) | set(crow)):
        if column == "rowid":
            continue
        hit = f"{table}[{label}].{column}" in flagged
        a, b = lrow.get(column), crow.get(column)
        if a == b and not hit:
            continue
        cells.append(
            Cell(
                column,
                _text(a) if column in lrow else "(absent)",
                _text(b) if column in crow else "(absent)",
                hit,
            )
        )
    cells.sort(key=lambda c: not c.flagged)  # stable: the reported columns first
    return cells


def _key(row: Mapping[str, Any]) -> str:
    return str(row.get("rowid", json.dumps(row, sort_keys=True, default=str)))


def _table(
    table: str, legacy: Mapping[str, Any], candidate: Mapping[str, Any], flagged: set[str]
) -> Iterable[RowDiff]:
    li = list(legacy.get("inserted") or [])
    ci = list(candidate.get("inserted") or [])
    for n in range(max(len(li), len(ci))):
        lrow = li[n] if n < len(li) else None
        crow = ci[n] if n < len(ci) else None
        only = (
            None
            if lrow is not None and crow is not None
            else ("legacy" if crow is None else "candidate")
        )
        cells = _cells(table, f"+{n}", lrow, crow, flagged) if only is None else []
        if only or cells:
            yield RowDiff(table, "inserted", f"+{n}", only, cells, _full(lrow), _full(crow))
    lu = {str(r.get("rowid")): r for r in legacy.get("updated") or []}
    cu = {str(r.get("rowid")): r for r in candidate.get("updated") or []}
    for key in sorted(lu.keys() | cu.keys(), key=lambda k: (len(k), k)):
        lrow, crow = lu.get(key), cu.get(key)
        label = f"rowid={key}"
        if lrow is None or crow is None:
            side = "legacy" if crow is None else "candidate"
            row = lrow or crow or {}
            changed = set(row.get("changed") or [])
            cells = [
                Cell(
                    c,
                    _text((row.get("after") or {}).get(c)) if side == "legacy" else "(unchanged)",
                    _text((row.get("after") or {}).get(c))
                    if side == "candidate"
                    else "(unchanged)",
                    True,
                )
                for c in sorted(changed)
            ]
            yield RowDiff(table, "updated", label, side, cells, _full(lrow), _full(crow))
            continue
        cells = _cells(table, label, lrow.get("after"), crow.get("after"), flagged)
        # a column one side changed and the other did not, even where the values now agree
        lchanged, cchanged = set(lrow.get("changed") or []), set(crow.get("changed") or [])
        shown = {c.column for c in cells}
        for column in sorted((lchanged ^ cchanged) - shown):
            cells.append(
                Cell(
                    column,
                    "changed" if column in lchanged else "unchanged",
                    "changed" if column in cchanged else "unchanged",
                    f"{table}[{label}].{column}" in flagged,
                )
            )
        if cells:
            cells.sort(key=lambda c: not c.flagged)
            yield RowDiff(table, "updated", label, None, cells, _full(lrow), _full(crow))
    ld = {_key(r): r for r in legacy.get("deleted") or []}
    cd = {_key(r): r for r in candidate.get("deleted") or []}
    for key in sorted(ld.keys() ^ cd.keys(), key=lambda k: (len(k), k)):
        side = "legacy" if key in ld else "candidate"
        yield RowDiff(
            table, "deleted", f"rowid={key}", side, [], _full(ld.get(key)), _full(cd.get(key))
        )


def write_diff(writes: Mapping[str, Mapping[str, Any]], paths: Iterable[str]) -> list[RowDiff]:
    """The rows the two sides wrote differently. ``writes`` is an example's ``db_writes``
    (``{"legacy": {table: {inserted, updated, deleted}}, "candidate": ...}``); ``paths`` are
    the finding's diff paths, which flag the cells the comparison reported."""
    legacy = writes.get("legacy") or {}
    candidate = writes.get("candidate") or {}
    flagged = set(paths)
    out: list[RowDiff] = []
    for table in sorted(set(legacy) | set(candidate)):
        out += _table(table, legacy.get(table) or {}, candidate.get(table) or {}, flagged)
    return out
