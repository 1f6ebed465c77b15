"""Values drawn from the data: one source of real values per field name, learned from the
snapshot's tables (and, later, from captured traffic), for parameters that select or match
rows. A generated string rarely matches a stored one; a stored word, prefix or instant does.

:class:`ValueSource` is the interface a phase (``harness.run.datacases``; the traffic replay,
through :meth:`ValueSource.add`) feeds and reads. Instants each side stamped with its own
clock (rows written after the snapshot) are kept per side (:class:`Paired`).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["Paired", "Scoped", "ValueSource", "time_variants", "words_and_prefixes"]

_WORD = re.compile(r"\w{3,}", re.UNICODE)
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
PER_FIELD = 40  # values kept per field and origin: enough to vary, few enough for a budget
MAX_SCOPES = 16  # a scoping column has at most this many distinct values (units, teams, owners)
SCAN_ROWS = 20000  # rows read per table when learning which values each scope holds


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def _user_tables(con: sqlite3.Connection) -> list[str]:
    """The database's own tables (SQLite's internal ``sqlite_*`` aside)."""
    return [
        r[0]
        for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        )
    ]


def words_and_prefixes(text: str) -> list[str]:
    """The words of a stored text and a prefix of its first word (what a search matches)."""
    words = _WORD.findall(text)
    out = list(dict.fromkeys(words))
    if words:
        out.append(words[0][: max(1, len(words[0]) // 2)])
    return out


def _instant(text: Any) -> datetime | None:
    """A stored instant as an aware UTC datetime (None: not one)."""
    if not isinstance(text, str) or not _INSTANT.match(text):
        return None
    try:
        when = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _unit(text: str) -> timedelta:
    match = _INSTANT.match(text)
    assert match is not None
    if match.group(2):
        return timedelta(milliseconds=1)
    if match.group(1):
        return timedelta(seconds=1)
    return timedelta(minutes=1)


def _variants(when: datetime, unit: timedelta) -> list[str]:
    """The instant at its precision (exact first), cut to seconds and minutes, with an
    offset, then one unit before and after: always the same length, index by index."""

    def z(t: datetime, spec: str) -> str:
        return t.isoformat(timespec=spec).replace("+00:00", "Z")

    spec = "milliseconds" if unit < timedelta(seconds=1) else "seconds"
    offset = timezone(timedelta(hours=2))
    return [
        z(when, spec),
        when.astimezone(offset).isoformat(timespec=spec),
        z(when - unit, spec),
        z(when + unit, spec),
        z(when.replace(microsecond=0), "seconds"),
        z(when.replace(second=0, microsecond=0), "minutes"),
    ]


def time_variants(text: str) -> list[str]:
    """A stored instant as stored, cut to seconds and minutes, in Z and with an offset, and
    the instants one unit (of its own precision) before and after."""
    when = _instant(text)
    if when is None:
        return []
    return list(dict.fromkeys([text, *_variants(when, _unit(text))]))


@dataclass(frozen=True)
class Paired:
    """One row's value as each side stored it (an instant each side stamped with its own
    clock): the legacy's request carries ``legacy``, the candidate's ``candidate``, so a
    filter at the row's exact instant selects the same row on both sides."""

    legacy: Any
    candidate: Any


def _split(instants: dict[Any, datetime], at: datetime) -> tuple[frozenset[Any], ...]:
    before = frozenset(k for k, v in instants.items() if v < at)
    same = frozenset(k for k, v in instants.items() if v == at)
    return before, same


def _stamped_pairs(legacy: dict[Any, Any], candidate: dict[Any, Any], keep: int) -> list[Paired]:
    """Per-side variants of the rows whose instants differ between the sides (each side's
    clock stamped them), newest and oldest rows first; a pair is kept only where it splits
    the column's rows (before, at, after) the same way on both sides, so it selects the
    same rows on each however close together the two clocks stamped them."""
    if set(legacy) != set(candidate):
        return []
    lt = {k: _instant(v) for k, v in legacy.items()}
    ct = {k: _instant(v) for k, v in candidate.items()}
    if any(v is None for v in lt.values()) or any(v is None for v in ct.values()):
        return []
    lsure = {k: v for k, v in lt.items() if v is not None}
    csure = {k: v for k, v in ct.items() if v is not None}
    stamped = sorted(k for k in lsure if lsure[k] != csure[k])
    if not stamped:
        return []
    ends = stamped[-3:][::-1], stamped[:3]
    rows = list(dict.fromkeys(k for pair in zip(*ends, strict=False) for k in pair))
    per_row = [
        (_variants(lsure[k], _unit(legacy[k])), _variants(csure[k], _unit(legacy[k]))) for k in rows
    ]
    out: list[Paired] = []
    for index in range(len(per_row[0][0])):  # every row's exact instant, then the next cut
        for lvars, cvars in per_row:
            lv, cv = lvars[index], cvars[index]
            la, ca = _instant(lv), _instant(cv)
            if la is None or ca is None or _split(lsure, la) != _split(csure, ca):
                continue
            one = Paired(lv, cv)
            if one not in out:
                out.append(one)
            if len(out) >= keep:
                return out
    return out


@dataclass(frozen=True)
class Scoped:
    """A value found only in rows of one scope: ``scope`` is the one value the scoping column
    ``scope_column`` holds in every row with it (``None``: only rows where it is NULL), e.g.
    a title only in one business unit's cases, a word only in announcements without a unit."""

    value: Any
    origin: str  # db:<table>.<column>[:words]
    scope_column: str
    scope: Any


def _scoping_columns(
    con: sqlite3.Connection, tables: list[str]
) -> tuple[dict[str, list[str]], set[str]]:
    """Per table, the columns that scope its rows to a tenant, unit, team or owner, found
    from the schema's foreign keys, never from a column's name alone: a foreign key to a
    root table (one two or more tables reference and that references no such table itself:
    users, teams, units), or a column named like a column of such a root table whose values
    are all among that column's (a tenant key copied from the user row, e.g.
    ``business_unit`` beside ``users.business_unit``); either with 1..MAX_SCOPES distinct
    values (and, for one value, NULL rows beside it). Also: the foreign-key ones (owners)."""
    refs: dict[str, set[str]] = {}
    fks: dict[str, dict[str, str]] = {}
    for table in tables:
        for row in con.execute(f'PRAGMA foreign_key_list("{table}")'):
            fks.setdefault(table, {})[row[3]] = row[2]
            refs.setdefault(row[2], set()).add(table)
    hubs = {t for t, by in refs.items() if len(by - {t}) >= 2 and t in tables}
    roots = {t for t in hubs if not set(fks.get(t, {}).values()) & (hubs - {t})}
    root_columns = {
        c: t
        for t in sorted(roots)
        for c in (r[1] for r in con.execute(f'PRAGMA table_info("{t}")'))
    }
    out: dict[str, list[str]] = {}
    owners: set[str] = set()
    for table in tables:
        cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
        for col in cols:
            if col == "id":
                continue
            to_root = fks.get(table, {}).get(col) in roots
            root = root_columns.get(col)
            copied = root is not None and root != table and col not in fks.get(table, {})
            if not (to_root or copied):
                continue
            try:
                distinct, nulls = con.execute(
                    f'SELECT COUNT(DISTINCT "{col}"), SUM("{col}" IS NULL) FROM "{table}"'
                ).fetchone()
                if copied and not to_root:
                    stray = con.execute(
                        f'SELECT COUNT(*) FROM "{table}" WHERE "{col}" IS NOT NULL AND "{col}" '
                        f'NOT IN (SELECT "{col}" FROM "{root}")'
                    ).fetchone()[0]
                    spread = con.execute(
                        f'SELECT COUNT(DISTINCT "{col}") FROM "{root}"'
                    ).fetchone()[0]
                    if stray or spread < 2:
                        continue
            except sqlite3.Error:
                continue
            if 1 <= distinct <= MAX_SCOPES and (distinct >= 2 or (nulls or 0) > 0):
                out.setdefault(table, []).append(col)
                if to_root:
                    owners.add(col)
    # a tenant key first, an owner after
    return {t: sorted(c, key=lambda col: col in owners) for t, c in out.items()}, owners


def _only_in(pairs: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """value -> the one scope every row holding it has (values in several scopes left out)."""
    scopes: dict[Any, set[Any]] = {}
    for value, scope in pairs:
        scopes.setdefault(value, set()).add(scope)
    return {v: next(iter(s)) for v, s in scopes.items() if len(s) == 1}


def _spread(found: dict[Any, Any], keep: int) -> list[tuple[Any, Any]]:
    """Values only in NULL-scope rows first, then each scope's values in turn."""
    by: dict[Any, list[Any]] = {}
    for value, scope in found.items():
        by.setdefault(scope, []).append(value)
    order = ([None] if None in by else []) + sorted((s for s in by if s is not None), key=str)
    out: list[tuple[Any, Any]] = []
    for index in range(max((len(v) for v in by.values()), default=0)):
        out += [(by[s][index], s) for s in order if index < len(by[s])]
    return out[:keep]


@dataclass
class ValueSource:
    """Real values per field name (lower snake case), each with where it came from
    (``db:<table>.<column>``, ``traffic``, ...); ``masked`` origins come from a user's data
    (URL mode) and must not be shown in reports unless the config allows them."""

    values: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    masked: set[str] = field(default_factory=set)
    # learned from a user's database (URL mode): every ``db:`` origin is private
    private: bool = False
    # instants each side stamped itself (rows written after the snapshot, e.g. at login),
    # per origin ``db:<table>.<column>:time``: one value per side (see :class:`Paired`)
    paired: dict[str, list[Paired]] = field(default_factory=dict)
    # values only in rows of one scope (or only in rows without one), per column name
    scoped: dict[str, list[Scoped]] = field(default_factory=dict)
    # per scoping column: its values; per table: its scoping columns
    scopes: dict[str, list[Any]] = field(default_factory=dict)
    scoping: dict[str, list[str]] = field(default_factory=dict)
    # per role: the scoping values of the row that is the role's user (learn_roles)
    role_scopes: dict[str, dict[str, Any]] = field(default_factory=dict)
    # scoping columns that are foreign keys to the user rows (an owner, an assignee)
    owner_columns: set[str] = field(default_factory=set)
    # per table: (id, {scoping column: value}) of rows, oldest and newest of each scope
    scoped_ids: dict[str, list[tuple[Any, dict[str, Any]]]] = field(default_factory=dict)
    # per table: per role, the ids a list answer showed it (learned from observed answers)
    seen_ids: dict[str, dict[str, list[Any]]] = field(default_factory=dict)

    def add(self, name: str, values: Iterable[Any], origin: str, *, private: bool = False) -> None:
        """Feed values for a field name (the traffic replay's entry point too)."""
        slot = self.values.setdefault(_snake(name), {}).setdefault(origin, [])
        for value in values:
            if value is not None and value not in slot and len(slot) < PER_FIELD:
                slot.append(value)
        if private:
            self.masked.add(origin)

    def for_field(self, name: str) -> list[tuple[Any, str]]:
        """(value, origin) for a parameter or body field of this name, an id field
        (``caseId``, ``case_id``) also taking the ids of the table it names."""
        key = _snake(name)
        keys = [key]
        if key.endswith("_id") and key != "id":
            keys.append(key[:-3] + "s.id")
        out: list[tuple[Any, str]] = []
        for k in keys:
            for origin, values in self.values.get(k, {}).items():
                out += [(v, origin) for v in values]
        return out

    def paired_for(self, name: str) -> list[Paired]:
        """The per-side instants of a column of this name (any table)."""
        key = "." + _snake(name) + ":time"
        return [v for origin, vals in self.paired.items() if origin.endswith(key) for v in vals]

    def all(self) -> list[tuple[Any, str]]:
        """Every (value, origin), for a parameter no column is named after."""
        return [(v, o) for by in self.values.values() for o, vals in by.items() for v in vals]

    def scoped_for(self, name: str) -> list[Scoped]:
        """Values only in one scope's rows (or only in rows without one) of a column of
        this name, any table: NULL-scope values first, then the scopes in turn."""
        return list(self.scoped.get(_snake(name), []))

    def scoped_texts(self) -> list[Scoped]:
        """Every scoped text (whole values and words) of a tenant key, those only in rows
        without a scope first, then the others, one column after another in turn; then those
        of an owner column the same way."""
        out: list[Scoped] = []
        for owner in (False, True):
            for null in (True, False):
                lists = [
                    [
                        s
                        for s in vals
                        if isinstance(s.value, str)
                        and (s.scope is None) == null
                        and (s.scope_column in self.owner_columns) == owner
                    ]
                    for vals in self.scoped.values()
                ]
                for index in range(max((len(v) for v in lists), default=0)):
                    out += [v[index] for v in lists if index < len(v)]
        return out

    @staticmethod
    def tables_named(name: str) -> list[str]:
        """The tables an id field may name: ``caseId``, ``case_id`` -> cases, casees, case."""
        key = _snake(name)
        if not key.endswith("_id") or key == "id":
            return []
        stem = key[:-3]
        return [stem + "s", stem + "es", stem]

    def ids_for(self, name: str, role: str | None) -> tuple[list[Any], list[Any]]:
        """(ids of the table an id field names that ``role`` can see, ids it cannot): those
        a list answered each role (observed) first, then the snapshot's, where a row's
        scoping column (a tenant key copied from the user row, else an owner) holds the
        role's user row's value, or another one."""
        tables = self.tables_named(name)
        table = next((t for t in tables if t in self.scoped_ids or t in self.seen_ids), None)
        if table is None:
            return [], []
        return self.ids_of(table, role)

    def ids_of(self, table: str, role: str | None) -> tuple[list[Any], list[Any]]:
        """(ids of ``table`` that ``role`` can see, ids it cannot): see :meth:`ids_for`."""
        if role is None:
            return [], []
        seen = self.seen_ids.get(table, {})
        mine = list(seen.get(role, []))
        others = [v for r, ids in seen.items() if r != role for v in ids if v not in mine]
        own = self.role_scopes.get(role, {})
        rows = self.scoped_ids.get(table, [])
        cols = [c for c in self.scoping.get(table, []) if c in own]
        cols = [c for c in cols if c not in self.owner_columns] or cols
        if cols:
            visible = [i for i, sc in rows if all(sc.get(c) == own[c] for c in cols)]
            hidden = [i for i, sc in rows if any(sc.get(c) not in (own[c], None) for c in cols)]
            if role in seen:  # what the role was shown overrules the snapshot's guess
                visible = [i for i in visible if i in mine]
                hidden = [i for i in hidden if i not in mine]
            mine += [i for i in visible if i not in mine]
            others += [i for i in hidden if i not in others and i not in mine]
        return mine[:4], list(dict.fromkeys(others))[:4]

    def id_origin(self, name: str, value: Any) -> str | None:
        """Where an id :meth:`ids_for` gave came from: ``db:<table>.id`` when only the data
        holds it, None when a list answer showed it (the service's own answer)."""
        tables = self.tables_named(name)
        table = next((t for t in tables if t in self.scoped_ids or t in self.seen_ids), None)
        if table is None:
            return None
        if any(value in ids for ids in self.seen_ids.get(table, {}).values()):
            return None
        return f"db:{table}.id"

    def is_private(self, origin: str) -> bool:
        """Is a value of this origin a user's data (masked in reports unless allowed)?"""
        return origin in self.masked or (self.private and origin.startswith("db:"))

    def observe(self, table: str, role: str, ids: Iterable[Any]) -> None:
        """A list answer showed ``role`` these ids of ``table``."""
        slot = self.seen_ids.setdefault(table, {}).setdefault(role, [])
        slot += [i for i in ids if i not in slot][: PER_FIELD - len(slot)]

    def learn_roles(self, path: Path, logins: dict[str, dict[str, Any]]) -> None:
        """Each role's user row in the snapshot (the row of a referenced table holding a
        string of the role's login body, e.g. its email) and its scoping values: the
        copied scoping columns by name, the foreign keys to that table by its id."""
        if not self.scoping:
            return
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        con.row_factory = sqlite3.Row
        try:
            targets: dict[str, list[str]] = {}
            for table, cols in self.scoping.items():
                for row in con.execute(f'PRAGMA foreign_key_list("{table}")'):
                    if row[3] in cols:
                        targets.setdefault(row[2], []).append(row[3])
            names = {c for cols in self.scoping.values() for c in cols}
            for role, body in logins.items():
                strings = [v for v in body.values() if isinstance(v, str)]
                for table in targets.keys() | self._tables_with(con, names):
                    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                    found = None
                    for col in cols:
                        for text in strings:
                            try:
                                found = con.execute(
                                    f'SELECT * FROM "{table}" WHERE "{col}" = ? LIMIT 2', (text,)
                                ).fetchall()
                            except sqlite3.Error:
                                found = None
                            if found and len(found) == 1:
                                break
                            found = None
                        if found:
                            break
                    if not found:
                        continue
                    row = dict(found[0])
                    mine = self.role_scopes.setdefault(role, {})
                    mine.update({c: row[c] for c in names if c in row and row[c] is not None})
                    if "id" in row:
                        mine.update(dict.fromkeys(targets.get(table, []), row["id"]))
        finally:
            con.close()

    @staticmethod
    def _tables_with(con: sqlite3.Connection, names: set[str]) -> set[str]:
        tables = _user_tables(con)
        out = set()
        for table in tables:
            cols = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            if cols & names and "id" in cols:
                out.add(table)
        return out

    def learn_scoped(self, path: Path, *, private: bool = False) -> None:
        """Values (whole, and words of texts) that occur only in rows of one scope or only
        in rows whose scoping column is NULL, per text, enum and id column; each table's
        rows' ids with their scoping values, oldest and newest of each scope."""
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = _user_tables(con)
            self.scoping, self.owner_columns = _scoping_columns(con, tables)
            for table, scoping in self.scoping.items():
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                quoted = ", ".join(f'"{c}"' for c in cols)
                try:
                    rows = con.execute(
                        f'SELECT {quoted} FROM "{table}" ORDER BY rowid LIMIT {SCAN_ROWS}'
                    ).fetchall()
                except sqlite3.OperationalError:
                    rows = con.execute(
                        f'SELECT {quoted} FROM "{table}" LIMIT {SCAN_ROWS}'
                    ).fetchall()
                index = {c: i for i, c in enumerate(cols)}
                for scope_col in scoping:
                    at = index[scope_col]
                    known = self.scopes.setdefault(scope_col, [])
                    known += [
                        v
                        for v in dict.fromkeys(r[at] for r in rows)
                        if v is not None and v not in known
                    ]
                if "id" in index:
                    self._learn_ids(table, rows, index, scoping)
                for col in cols:
                    if col == "id" or col in scoping:
                        continue
                    at = index[col]
                    values = [r[at] for r in rows]
                    if any(isinstance(v, float | bytes) for v in values):
                        continue
                    texts = [v for v in values if isinstance(v, str)]
                    if any(_instant(t) is not None for t in texts[:20]):
                        continue  # instants: the time variants' job
                    if any(t[:1] in "{[" for t in texts[:20]):
                        continue  # JSON documents
                    for scope_col in scoping:
                        at_s = index[scope_col]
                        pairs = [(r[at], r[at_s]) for r in rows if r[at] is not None]
                        whole = _only_in(pairs)
                        words = _only_in(
                            (w.lower(), s)
                            for v, s in pairs
                            if isinstance(v, str)
                            for w in set(_WORD.findall(v))
                        )
                        words = {w: s for w, s in words.items() if w not in whole}
                        origin = f"db:{table}.{col}"
                        for found, tag in ((whole, origin), (words, origin + ":words")):
                            slot = self.scoped.setdefault(_snake(col), [])
                            for value, scope in _spread(found, PER_FIELD // 2):
                                slot.append(Scoped(value, tag, scope_col, scope))
                            if private and found:
                                self.masked.add(tag)
        finally:
            con.close()

    def _learn_ids(
        self, table: str, rows: list[Any], index: dict[str, int], scoping: list[str]
    ) -> None:
        by: dict[tuple[Any, ...], list[Any]] = {}
        for row in rows:
            by.setdefault(tuple(row[index[c]] for c in scoping), []).append(row)
        out: list[tuple[Any, dict[str, Any]]] = []
        for key, group in by.items():
            for row in dict.fromkeys([*group[:2], *group[-2:]]):
                out.append((row[index["id"]], dict(zip(scoping, key, strict=True))))
        self.scoped_ids[table] = out

    def shown(self, value: Any, origin: str) -> str:
        """A value as a report may show it."""
        return "<from the data>" if self.is_private(origin) else repr(value)

    def learn_sqlite(self, path: Path, *, private: bool = False) -> None:
        """Whole values, words and prefixes of text columns, time variants of stored
        instants, the newest and oldest rows' ids; per column name and per ``table.id``.
        ``private``: a user's data (URL mode), every origin masked."""
        self.private = self.private or private
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = _user_tables(con)
            for table in tables:
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                for col in cols:
                    origin = f"db:{table}.{col}"
                    query = f'SELECT DISTINCT "{col}" FROM "{table}"'
                    try:  # insertion order: the oldest rows first
                        rows = con.execute(query + " ORDER BY rowid").fetchall()
                    except sqlite3.OperationalError:  # WITHOUT ROWID
                        rows = con.execute(query).fetchall()
                    vals = [r[0] for r in rows if r[0] is not None]
                    if not vals:
                        continue
                    # the newest and oldest rows, alternately (newest first)
                    ends = vals[-3:][::-1], vals[:3]
                    picked = list(
                        dict.fromkeys(v for pair in zip(*ends, strict=False) for v in pair)
                    )
                    self.add(col, picked, origin, private=private)
                    if col == "id":
                        self.add(f"{table}.id", picked, origin, private=private)
                    texts = [v for v in picked if isinstance(v, str)]
                    instants = [t for t in texts if _INSTANT.match(t)]
                    # each stored instant as stored first, then its cuts, offsets and neighbours
                    self.add(col, instants, origin + ":time", private=private)
                    for text in instants:
                        self.add(col, time_variants(text), origin + ":time", private=private)
                    for text in texts:
                        if text not in instants and " " in text.strip():
                            found = words_and_prefixes(text)
                            self.add(col, found, origin + ":words", private=private)
        finally:
            con.close()

    def learn_paired(self, legacy: Path, candidate: Path, *, private: bool = False) -> None:
        """The instants of rows both live databases hold (matched by rowid) that each side
        stamped with its own clock: a value from one side's data would sit a few ms off the
        other's row, so each side gets its own (time filters at a row's exact instant)."""
        lcon = sqlite3.connect(f"file:{legacy}?mode=ro", uri=True)
        ccon = sqlite3.connect(f"file:{candidate}?mode=ro", uri=True)
        try:
            tables = _user_tables(lcon)
            for table in tables:
                cols = [r[1] for r in lcon.execute(f'PRAGMA table_info("{table}")')]
                for col in cols:
                    query = f'SELECT rowid, "{col}" FROM "{table}" WHERE "{col}" IS NOT NULL'
                    try:
                        lrows = dict(lcon.execute(query).fetchall())
                        crows = dict(ccon.execute(query).fetchall())
                    except sqlite3.Error:  # WITHOUT ROWID, or the column differs
                        continue
                    if not lrows or _instant(next(iter(lrows.values()))) is None:
                        continue
                    found = _stamped_pairs(lrows, crows, PER_FIELD)
                    if found:
                        origin = f"db:{table}.{col}:time"
                        self.paired[origin] = found
                        if private:
                            self.masked.add(origin)
        finally:
            lcon.close()
            ccon.close()
