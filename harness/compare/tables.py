"""Tables the two sides name differently: declared (``[[db.map]]``) or found by their columns.

Why: a port often renames a table (``articles`` -> ``article``) or moves it to another schema.
Compared by name, its rows look gone on one side and new on the other, and the drift inside
them is never seen. A declared rename is compared under the legacy's names and reported as
nothing; an undeclared one (a table only one side wrote, another only the other side wrote,
with alike columns) is compared the same way and reported once as a ``db_table`` difference.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

from harness.models import Difference, TableWrites, Writes
from harness.setup.config import TableMap

__all__ = ["columns_of", "map_tables", "pair_tables"]

SEQUENCES = "sqlite_sequence"
MIN_ALIKE = 0.6
"""Shared columns over all columns of the two tables: at least this to be one table."""


def columns_of(writes: TableWrites) -> set[str]:
    """The columns a table's written rows show (``rowid`` is the watcher's, not the table's)."""
    cols: set[str] = set()
    for row in writes.inserted + writes.deleted:
        cols |= set(row)
    for row in writes.updated:
        cols |= set(row.get("after") or {}) | set(row.get("before") or {})
    return cols - {"rowid"}


def _rename_row(row: dict[str, Any], columns: dict[str, str]) -> dict[str, Any]:
    back = {c: legacy for legacy, c in columns.items()}
    return {back.get(k, k): v for k, v in row.items()}


def _renamed(writes: TableWrites, columns: dict[str, str]) -> TableWrites:
    if not columns:
        return writes
    return TableWrites(
        inserted=[_rename_row(r, columns) for r in writes.inserted],
        updated=[
            {
                **r,
                **{
                    k: _rename_row(r[k], columns)
                    for k in ("before", "after")
                    if isinstance(r.get(k), dict)
                },
            }
            for r in writes.updated
        ],
        deleted=[_rename_row(r, columns) for r in writes.deleted],
    )


def _counter_names(writes: Writes, names: dict[str, str]) -> Writes:
    """sqlite_sequence rows (AUTOINCREMENT counters) follow their tables' new names."""
    seq = writes.get(SEQUENCES)
    if seq is None or not names:
        return writes

    def fix(row: dict[str, Any] | None) -> dict[str, Any] | None:
        if not isinstance(row, dict):
            return row
        out = dict(row)
        for key in ("name", "rowid"):
            if isinstance(out.get(key), str) and out[key] in names:
                out[key] = names[out[key]]
        return out

    fixed = TableWrites(
        inserted=[fix(r) or r for r in seq.inserted],
        updated=[
            {**(fix(r) or r), "before": fix(r.get("before")), "after": fix(r.get("after"))}
            for r in seq.updated
        ],
        deleted=[fix(r) or r for r in seq.deleted],
    )
    return {**writes, SEQUENCES: fixed}


def map_tables(writes: Writes | None, maps: Sequence[TableMap]) -> Writes | None:
    """The candidate's writes under the legacy's table and column names (``[[db.map]]``)."""
    if writes is None or not maps:
        return writes
    by_candidate = {m.candidate: m for m in maps}
    out: Writes = {}
    for table, tw in writes.items():
        rule = by_candidate.get(table)
        if rule is None:
            out[table] = tw
        else:
            out[rule.legacy] = _renamed(tw, rule.columns)
    return _counter_names(out, {m.candidate: m.legacy for m in maps})


def _alike(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def _pairs(
    only_legacy: Iterable[tuple[str, set[str]]], only_candidate: Iterable[tuple[str, set[str]]]
) -> list[tuple[str, str, float]]:
    """Best pairs first: most columns shared, then the closest names; each table once."""
    scored = []
    for lt, lc in only_legacy:
        for ct, cc in only_candidate:
            alike = _alike(lc, cc)
            if alike >= MIN_ALIKE and len(lc & cc) >= 2:
                name = difflib.SequenceMatcher(None, lt.lower(), ct.lower()).ratio()
                scored.append((alike, name, lt, ct))
    scored.sort(reverse=True)
    taken: set[str] = set()
    out = []
    for alike, _name, lt, ct in scored:
        if lt in taken or ct in taken:
            continue
        taken |= {lt, ct}
        out.append((lt, ct, alike))
    return out


def pair_tables(legacy: Writes, candidate: Writes) -> tuple[Writes, list[Difference]]:
    """The candidate's writes with each table only it wrote renamed to the legacy table only
    the legacy wrote whose columns it shares, and one ``db_table`` difference per such pair."""
    only_l = [(t, columns_of(w)) for t, w in legacy.items() if t not in candidate and w]
    only_c = [(t, columns_of(w)) for t, w in candidate.items() if t not in legacy and w]
    only_l = [x for x in only_l if x[0] != SEQUENCES]
    only_c = [x for x in only_c if x[0] != SEQUENCES]
    pairs = _pairs(only_l, only_c)
    if not pairs:
        return candidate, []
    names = {ct: lt for lt, ct, _ in pairs}
    renamed: Writes = {names.get(t, t): w for t, w in candidate.items()}
    out = []
    for lt, ct, alike in pairs:
        shared = sorted(columns_of(legacy[lt]) & columns_of(candidate[ct]))
        out.append(
            Difference(
                f"db:{lt}",
                "db_table",
                lt,
                lt,
                ct,
                f"{lt}: the candidate writes these rows to table {ct!r} instead "
                f"({round(alike * 100)}% of columns alike: {', '.join(shared[:6])}"
                + ("…" if len(shared) > 6 else "")
                + f"); compared as one table. If intended: [[db.map]] legacy = {lt!r} "
                f"candidate = {ct!r}",
            )
        )
    return _counter_names(renamed, names), out
