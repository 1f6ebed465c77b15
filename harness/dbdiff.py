"""Which rows a request inserted, updated and deleted, table by table, read-only and cheap.

Every write case is followed by a restore, so the "before" state is always the same
baseline: it is read once, and after a request only ``PRAGMA data_version`` is checked
unless another connection (the service) committed something.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models import TableWrites, Writes
from harness.normalization import JsonText, json_style

__all__ = ["DbWatcher", "backup_into", "read_tables"]

Rows = dict[Any, dict[str, Any]]


def _connect_ro(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _user_tables(conn: sqlite3.Connection) -> list[tuple[str, bool]]:
    """Ordinary tables (and sqlite_sequence), not FTS virtual tables or their shadows."""
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='table' ORDER BY name"
    ).fetchall()
    virtual = [n for n, sql in rows if sql and sql.upper().startswith("CREATE VIRTUAL TABLE")]
    out: list[tuple[str, bool]] = []
    for name, sql in rows:
        if name in virtual or any(name.startswith(v + "_") for v in virtual):
            continue
        if name.startswith("sqlite_") and name != "sqlite_sequence":
            continue
        without_rowid = bool(sql) and "WITHOUT ROWID" in sql.upper()
        out.append((name, not without_rowid and name != "sqlite_sequence"))
    return out


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        return JsonText(value, parsed, json_style(value, parsed))
    if isinstance(value, bytes):
        return f"<blob {len(value)} bytes>"
    return value


RawTables = dict[str, tuple[list[str], dict[Any, tuple[Any, ...]]]]


def _fetch(conn: sqlite3.Connection, name: str, has_rowid: bool) -> tuple[list[str], list[Any]]:
    """A table's rows as fetched (rowid first where there is one): C-level, cheap to compare."""
    quoted = '"' + name.replace('"', '""') + '"'
    cur = conn.execute(f"SELECT rowid, * FROM {quoted}" if has_rowid else f"SELECT * FROM {quoted}")
    cols = [d[0] for d in cur.description]
    return (cols[1:] if has_rowid else cols), cur.fetchall()


def _keyed(name: str, has_rowid: bool, rows: list[Any]) -> dict[Any, tuple[Any, ...]]:
    if has_rowid:
        return {r[0]: r[1:] for r in rows}
    by_first = name == "sqlite_sequence"
    return {(r[0] if by_first else r): r for r in rows}


def read_raw(conn: sqlite3.Connection, tables: list[tuple[str, bool]]) -> RawTables:
    """Every row as a plain tuple keyed by rowid: cheap to read and to compare."""
    out: RawTables = {}
    for name, has_rowid in tables:
        cols, rows = _fetch(conn, name, has_rowid)
        out[name] = (cols, _keyed(name, has_rowid, rows))
    return out


def read_tables(conn: sqlite3.Connection, tables: list[tuple[str, bool]]) -> dict[str, Rows]:
    """Rows as dicts (JSON text columns parsed), for reports and invariants."""
    return {
        name: {k: _row(cols, v) for k, v in rows.items()}
        for name, (cols, rows) in read_raw(conn, tables).items()
    }


def _row(cols: list[str], values: tuple[Any, ...]) -> dict[str, Any]:
    return {c: _cell(v) for c, v in zip(cols, values, strict=True)}


def diff_tables(before: RawTables, after: RawTables) -> Writes:
    writes: Writes = {}
    for table in sorted(set(before) | set(after)):
        cols, old = before.get(table, ([], {}))
        cols, new = after.get(table, (cols, {}))
        if old == new:
            continue
        tw = TableWrites()
        for key in sorted(new.keys() - old.keys(), key=_order):
            row = _row(cols, new[key])
            tw.inserted.append({"rowid": key, **row} if isinstance(key, int) else row)
        for key in sorted(old.keys() - new.keys(), key=_order):
            row = _row(cols, old[key])
            tw.deleted.append({"rowid": key, **row} if isinstance(key, int) else row)
        for key in sorted(old.keys() & new.keys(), key=_order):
            if old[key] != new[key]:
                was, now = _row(cols, old[key]), _row(cols, new[key])
                changed = sorted(c for c in cols if was.get(c) != now.get(c))
                tw.updated.append({"rowid": key, "changed": changed, "before": was, "after": now})
        if tw:
            writes[table] = tw
    return writes


def _order(key: Any) -> Any:
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def backup_into(source: Path, target: Path) -> None:
    """Overwrite ``target`` (possibly in use by a running service) with ``source``'s pages."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target, timeout=20.0)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


class DbWatcher:
    """One target's live database: baseline, change detection, writes, restore."""

    engine = "sqlite"

    def __init__(self, live: Path, baseline: Path) -> None:
        self.live = live
        self.baseline = baseline
        self.conn: sqlite3.Connection | None = None
        self.tables: list[tuple[str, bool]] = []
        self.base_rows: RawTables = {}
        self.base_fetched: dict[str, list[Any]] = {}  # as fetched: unchanged tables skip the diff
        self.version = 0
        self.restores = 0
        self.restore_s = 0.0

    def open(self) -> None:
        """Freeze the current live state as this target's baseline (after logins)."""
        try:
            live = sqlite3.connect(self.live, timeout=20.0)
            dst = sqlite3.connect(self.baseline)
            try:
                live.backup(dst)
            finally:
                dst.close()
                live.close()
            self.conn = _connect_ro(self.live)
            self.tables = _user_tables(self.conn)
            for name, has_rowid in self.tables:
                cols, rows = _fetch(self.conn, name, has_rowid)
                self.base_fetched[name] = rows
                self.base_rows[name] = (cols, _keyed(name, has_rowid, rows))
            self.version = self._data_version()
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot read database {self.live}: {exc}", kind="database") from exc

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _data_version(self) -> int:
        assert self.conn is not None
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        return self._data_version() != self.version

    def writes(self) -> Writes:
        assert self.conn is not None
        before: RawTables = {}
        after: RawTables = {}
        self.conn.execute("BEGIN")  # one snapshot across all tables
        try:
            for name, has_rowid in self.tables:
                cols, rows = _fetch(self.conn, name, has_rowid)
                if rows == self.base_fetched.get(name):
                    continue  # the common case: compared in C, no per-row Python work
                before[name] = self.base_rows.get(name, (cols, {}))
                after[name] = (cols, _keyed(name, has_rowid, rows))
        finally:
            self.conn.execute("COMMIT")
        return diff_tables(before, after)

    def restore(self) -> None:
        started = time.perf_counter()
        try:
            backup_into(self.baseline, self.live)
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot restore {self.live}: {exc}", kind="database") from exc
        self.version = self._data_version()
        self.restores += 1
        self.restore_s += time.perf_counter() - started
