"""Which rows a request inserted, updated and deleted, table by table, read-only and cheap.

Every write case is followed by a restore, so the "before" state is always the same
baseline: it is read once, and after a request only ``PRAGMA data_version`` is checked
unless another connection (the service) committed something. A replay, never restored
between requests, moves the baseline instead (``rebase``): to the state the last diff read,
so each request's diff holds its own writes and costs what it wrote, not what the replay
wrote so far.

Then only the tables that can have changed are read. A restore copies the baseline back
page for page, so after one the file's layout is the baseline's, whose page -> table map is
read once (``dbstat``). In WAL mode every page a writer changes goes to the ``-wal`` file as
a frame naming the page, and any change to a table or one of its indexes rewrites at least
one page that belonged to it before the change (the leaf or interior page the first edit
lands on). So the frames appended since the restore name every table that can differ from
the baseline. Where that cannot be known (not WAL, the log restarted since the restore, a
page size or schema that moved), every table is read, as before. After a rebase the layout
is no longer the baseline's: the b-trees of the tables the log named (the only ones that can
have taken or given pages) are walked again, so the map is the new baseline's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.compare.normalization import JsonText, json_style
from harness.errors import HarnessError
from harness.models import TableWrites, Writes

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


_WAL_MAGIC = (0x377F0682, 0x377F0683)
_WAL_HEADER = 32
_FRAME_HEADER = 24
_FRAME = struct.Struct(">4I")


class WalMark:
    """Where a database's write-ahead log stood: (checkpoint sequence, salts) and its end.

    ``pages_since`` returns the page numbers of every frame appended after the mark, or None
    when that is unknown (no log, the log restarted, another page size)."""

    def __init__(self, path: Path, page_size: int) -> None:
        self.path = path
        self.page_size = page_size
        self.epoch: tuple[int, int, int] | None = None
        self.end = _WAL_HEADER

    def _header(self, fd: int) -> tuple[int, int, int] | None:
        head = os.pread(fd, _WAL_HEADER, 0)
        if len(head) < _WAL_HEADER:
            return None
        magic, _version, page_size, seq, salt1, salt2 = struct.unpack(">6I", head[:24])
        if magic not in _WAL_MAGIC or page_size != self.page_size:
            return None
        return seq, salt1, salt2

    def mark(self) -> None:
        """Remember the log's current end (after a restore, or when the baseline is frozen)."""
        before, self.epoch = self.epoch, None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return
        try:
            epoch = self._header(fd)
            if epoch is None:
                return
            # the same epoch: frames only ever get appended, so walk on from the last end
            start = self.end if epoch == before else _WAL_HEADER
            self.epoch, self.end = epoch, self._scan(fd, epoch, start, None)
        finally:
            os.close(fd)

    def committed(self) -> tuple[tuple[int, int, int], int] | None:
        """The log's epoch and the end of its last committed frame now (None: no log, or
        another page size). Read before a snapshot begins, every frame up to it is in the
        snapshot; frames after it (a transaction still being written) are not."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            epoch = self._header(fd)
            if epoch is None:
                return None
            start = self.end if epoch == self.epoch else _WAL_HEADER
            end = self._scan(fd, epoch, start, None)
            frame = _FRAME_HEADER + self.page_size
            while end > _WAL_HEADER:  # back to the last commit frame (its field: db size)
                head = os.pread(fd, 8, end - frame)
                if int.from_bytes(head[4:8], "big"):
                    break
                end -= frame
            return epoch, end
        finally:
            os.close(fd)

    def move(self, position: tuple[tuple[int, int, int], int] | None) -> None:
        """Mark the log at ``position`` (from :meth:`committed`; None: unknown)."""
        if position is None:
            self.epoch = None
        else:
            self.epoch, self.end = position

    def pages_since(self) -> set[int] | None:
        if self.epoch is None:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            if self._header(fd) != self.epoch:
                return None  # checkpointed and restarted since the mark: frames are gone
            pages: set[int] = set()
            self._scan(fd, self.epoch, self.end, pages)
            return pages
        finally:
            os.close(fd)

    def _salts_at(self, fd: int, index: int) -> tuple[int, int]:
        head = os.pread(fd, _FRAME_HEADER, _WAL_HEADER + index * (_FRAME_HEADER + self.page_size))
        _pgno, _commit, salt1, salt2 = _FRAME.unpack_from(head)
        return salt1, salt2

    def _scan(
        self, fd: int, epoch: tuple[int, int, int], offset: int, pages: set[int] | None
    ) -> int:
        """The end of this epoch's frames, from ``offset`` on (collecting their pages when
        asked). A restart writes from the start again, so the epoch's frames are a prefix
        and any frame after them (left from an older epoch) carries other salts: the end is
        found by bisection, and only the new frames' headers are read."""
        frame = _FRAME_HEADER + self.page_size
        salts = epoch[1:]
        first = (offset - _WAL_HEADER) // frame
        lo, hi = first, (os.fstat(fd).st_size - _WAL_HEADER) // frame  # frames [first, hi)
        if hi > lo and self._salts_at(fd, hi - 1) != salts:
            while lo < hi:  # the first frame of another epoch
                mid = (lo + hi) // 2
                if self._salts_at(fd, mid) == salts:
                    lo = mid + 1
                else:
                    hi = mid
        if pages is not None:
            for index in range(first, hi):
                head = os.pread(fd, 4, _WAL_HEADER + index * frame)
                pages.add(int.from_bytes(head, "big"))
        return _WAL_HEADER + hi * frame


def _page_owners(
    conn: sqlite3.Connection, tables: list[tuple[str, bool]], only: set[str] | None = None
) -> dict[int, str]:
    """Page number -> the watched table whose b-tree (or index b-tree) it belongs to; with
    ``only``, the pages of those tables' b-trees alone (dbstat walks just those)."""
    watched = {name for name, _ in tables}
    owner = {
        name: table
        for name, table in conn.execute("SELECT name, tbl_name FROM sqlite_master")
        if table in watched and (only is None or table in only)
    }
    if only is None:
        return {
            pageno: owner[name]
            for name, pageno in conn.execute("SELECT name, pageno FROM dbstat")
            if name in owner
        }
    out: dict[int, str] = {}
    for name, table in owner.items():
        for (pageno,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?", (name,)):
            out[pageno] = table
    return out


@dataclass(frozen=True)
class _Seen:
    """What one ``writes()`` read: the data version and log position taken before its
    snapshot, the tables the log named (None: every table read), and the tables that
    differed from the baseline, as read."""

    version: int
    position: tuple[tuple[int, int, int], int] | None
    touched: set[str] | None
    after: RawTables
    fetched: dict[str, list[Any]]


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
        self.owners: dict[int, str] = {}  # page -> table, of the baseline's layout
        self.wal: WalMark | None = None
        self.narrowed = 0  # diffs that read only the tables the log names
        self._copy: tuple[sqlite3.Connection, sqlite3.Connection] | None = None  # restore's
        self.full_reads = 0  # diffs that had to read every table
        # what open() froze (restore goes back to it; rebase moves only the diff's baseline)
        self._origin: tuple[RawTables, dict[str, list[Any]], dict[int, str]] = ({}, {}, {})
        self._seen: _Seen | None = None  # what the last writes() read, for rebase()
        self.rebases = 0

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
            self._watch_log()
            self.version = self._data_version()
            self._origin = (dict(self.base_rows), dict(self.base_fetched), dict(self.owners))
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot read database {self.live}: {exc}", kind="database") from exc

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self._copy is not None:
            for conn in self._copy:
                conn.close()
            self._copy = None

    def _watch_log(self) -> None:
        """In WAL mode: the baseline's page -> table map, and a mark at the log's end."""
        assert self.conn is not None
        mode = str(self.conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal":
            return
        try:
            self.owners = _page_owners(self.conn, self.tables)
        except sqlite3.Error:  # no dbstat in this SQLite: read every table
            return
        page_size = int(self.conn.execute("PRAGMA page_size").fetchone()[0])
        self.wal = WalMark(Path(str(self.live) + "-wal"), page_size)
        self.wal.mark()

    def touched(self) -> set[str] | None:
        """The watched tables the log's frames since the baseline name (None: unknown)."""
        if self.wal is None:
            return None
        pages = self.wal.pages_since()
        if pages is None:
            return None
        return {self.owners[p] for p in pages if p in self.owners}

    def _data_version(self) -> int:
        assert self.conn is not None
        return int(self.conn.execute("PRAGMA data_version").fetchone()[0])

    def changed(self) -> bool:
        return self._data_version() != self.version

    def writes(self) -> Writes:
        assert self.conn is not None
        before: RawTables = {}
        after: RawTables = {}
        fetched: dict[str, list[Any]] = {}
        # before the snapshot: every commit these name is in it (a later one moves them on)
        version = self._data_version()
        position = self.wal.committed() if self.wal is not None else None
        self.conn.execute("BEGIN")  # one snapshot across all tables
        try:
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # the snapshot
            touched = self.touched()  # read after the snapshot began: it covers all it sees
            if touched is None:
                self.full_reads += 1
            else:
                self.narrowed += 1
            for name, has_rowid in self.tables:
                if touched is not None and name not in touched:
                    continue
                cols, rows = _fetch(self.conn, name, has_rowid)
                if rows == self.base_fetched.get(name):
                    continue  # the common case: compared in C, no per-row Python work
                before[name] = self.base_rows.get(name, (cols, {}))
                after[name] = (cols, _keyed(name, has_rowid, rows))
                fetched[name] = rows
        finally:
            self.conn.execute("COMMIT")
        self._seen = _Seen(version, position, touched, after, fetched)
        return diff_tables(before, after)

    def rebase(self) -> None:
        """The state the last :meth:`writes` read becomes the baseline of the next
        ``changed()``/``writes()``, so they report only what was written since (a replay's
        request its own rows); :meth:`restore` still goes back to what :meth:`open` froze.

        The log shortcut needs the page -> table map of the state diffed against: a page a
        table took since (a split, a page off the freelist) is written, and so is a page of
        that table it had before, so the tables the frames since the last mark name are the
        only ones whose b-trees can have moved; their pages are walked again (dbstat,
        those b-trees only), and the log is marked where the snapshot read it."""
        seen, self._seen = self._seen, None
        if seen is None:
            return  # nothing read since the last baseline: it stands
        assert self.conn is not None
        self.base_rows.update(seen.after)
        self.base_fetched.update(seen.fetched)
        self.version = seen.version
        if self.wal is not None:
            try:
                self.conn.execute("BEGIN")
                try:
                    self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                    if seen.touched is None:
                        self.owners = _page_owners(self.conn, self.tables)
                    elif seen.touched:
                        self.owners.update(_page_owners(self.conn, self.tables, seen.touched))
                finally:
                    self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise HarnessError(
                    f"cannot read database {self.live}: {exc}", kind="database"
                ) from exc
            self.wal.move(seen.position)
        self.rebases += 1

    def restore(self) -> None:
        started = time.perf_counter()
        try:
            if self._copy is None:
                # kept open for the run; the live copy is scratch, so no fsync per restore
                # (each one cost a WAL sync, and a checkpoint's, under the services)
                src = sqlite3.connect(
                    f"file:{self.baseline}?mode=ro", uri=True, check_same_thread=False
                )
                dst = sqlite3.connect(self.live, timeout=20.0, check_same_thread=False)
                dst.execute("PRAGMA synchronous=OFF")
                self._copy = (src, dst)
            src, dst = self._copy
            src.backup(dst)
        except sqlite3.Error as exc:
            raise HarnessError(f"cannot restore {self.live}: {exc}", kind="database") from exc
        self.version = self._data_version()
        self._seen = None
        if self.rebases:  # back to what open() froze, and its layout
            rows, fetched, owners = self._origin
            self.base_rows, self.base_fetched, self.owners = dict(rows), dict(fetched), dict(owners)
        if self.wal is not None:
            self.wal.mark()
        self.restores += 1
        self.restore_s += time.perf_counter() - started
