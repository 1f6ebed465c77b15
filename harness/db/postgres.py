"""PostgreSQL targets: baseline, change detection, write diff and restore under a running
service, plus the template/clone helpers and the SQLite snapshot loader.

How a write is seen. ``open()`` installs, in the target database, an unlogged
``parity.log(tbl, pk)`` and an ``AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW`` trigger on
every user table that appends the written row's primary key (a statement-level ``TRUNCATE``
trigger logs the whole table). The log row commits or rolls back with the service's own
transaction, so:

- ``changed()`` is one round trip: is the log non-empty, and did any sequence move (a
  rolled-back insert still consumes an id, and the next insert would differ from SQLite's)?
- ``writes()`` fetches only the logged keys, now and in the baseline, per table: the cost
  follows the rows written, not the size of the database.

The baseline is a copy of every table in a ``parity_base`` schema of the same database
(taken at ``open()``, after logins, like the SQLite watcher's baseline file) plus every
sequence's position.
``rebase()`` (a replay, never restored between requests) moves the baseline of the diff to
the state the last ``writes()`` read: the log rows it read move to ``parity.done`` (a
restore still puts those rows back) and the rows it read are kept as their keys' "before",
so the next diff reads only the keys logged since.

Restore, measured with ``python -m harness.bench.db_writes`` on the shipped legacy's seeded snapshot
(seed 42: 300 cases, 240 alerts; PostgreSQL 15, fsync off, 2 shared cores; one write = a
case and an event inserted and an alert updated; median of 200, clone of 20):

========================  =======  ===================================================
strategy                  restore  under a running service
========================  =======  ===================================================
``rows`` (the default)    3.6 ms   yes: one short transaction deletes the logged keys
                                   and copies those rows back from ``parity_base``,
                                   resets the sequences; no DDL, pooled sessions stay
``tables``                5.7 ms   yes, but grows with the size of each touched table
                                   (every row of it deleted and copied back)
``clone``                 70 ms    no: ``DROP DATABASE ... WITH (FORCE)`` then
                                   ``CREATE DATABASE ... TEMPLATE`` needs the database
                                   to itself, so it kills the service's pooled sessions
========================  =======  ===================================================

SQLite's online backup restore of the same file: 4.7 ms. ``changed()`` + ``writes()``
after that write: SQLite 2.3 ms, PostgreSQL 2.2 ms; ``changed()`` when nothing was
written (every read-only request pays it): SQLite ~0.004 ms, PostgreSQL 0.35 ms (a round
trip). ``rows`` is the default; ``docs/postgres.md`` has the figures of the last measurement.
Restores run with ``session_replication_role = replica`` (superuser, as on parity's private
server): no trigger fires, neither ours nor the foreign-key checks, while the rows go back.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.models import TableWrites, Writes

__all__ = [
    "PgWatcher",
    "clone_database",
    "create_database",
    "drop_database",
    "load_sqlite_snapshot",
    "prepare_targets",
    "psycopg_dsn",
]

LOG_SCHEMA = "parity"
BASE_SCHEMA = "parity_base"
STRATEGIES = ("rows", "tables", "clone")

_SETUP = f"""
CREATE SCHEMA IF NOT EXISTS {LOG_SCHEMA};
CREATE UNLOGGED TABLE IF NOT EXISTS {LOG_SCHEMA}.log (tbl text NOT NULL, pk jsonb);
ALTER TABLE {LOG_SCHEMA}.log ADD COLUMN IF NOT EXISTS n bigserial;
CREATE UNLOGGED TABLE IF NOT EXISTS {LOG_SCHEMA}.done (tbl text NOT NULL, pk jsonb);
CREATE OR REPLACE FUNCTION {LOG_SCHEMA}.log_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r jsonb;
  k jsonb;
  c text;
BEGIN
  IF TG_ARGV IS NULL OR array_length(TG_ARGV, 1) IS NULL THEN
    INSERT INTO {LOG_SCHEMA}.log(tbl, pk) VALUES (TG_TABLE_NAME, NULL);
    RETURN NULL;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    r := to_jsonb(OLD); k := '[]'::jsonb;
    FOREACH c IN ARRAY TG_ARGV LOOP k := k || jsonb_build_array(r -> c); END LOOP;
    INSERT INTO {LOG_SCHEMA}.log(tbl, pk) VALUES (TG_TABLE_NAME, k);
  END IF;
  IF TG_OP <> 'DELETE' THEN
    r := to_jsonb(NEW); k := '[]'::jsonb;
    FOREACH c IN ARRAY TG_ARGV LOOP k := k || jsonb_build_array(r -> c); END LOOP;
    INSERT INTO {LOG_SCHEMA}.log(tbl, pk) VALUES (TG_TABLE_NAME, k);
  END IF;
  RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION {LOG_SCHEMA}.log_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO {LOG_SCHEMA}.log(tbl, pk) VALUES (TG_TABLE_NAME, NULL);
  RETURN NULL;
END $$;
"""


def psycopg_dsn(url: str) -> str:
    """A libpq URL from a SQLAlchemy one (``postgresql+psycopg://`` -> ``postgresql://``):
    the plain form every PostgreSQL driver accepts (libpq, node-postgres, pgx, JDBC after
    its ``jdbc:``), which is what a service is given; the ``+driver`` form stays inside
    parity (its own SQLAlchemy engines)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url  # already a key=value DSN
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _connect(url: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(psycopg_dsn(url), autocommit=True)
    except psycopg.Error as exc:
        raise HarnessError(f"cannot connect to {url}: {exc}", kind="database") from exc


def _admin_url(url: str) -> tuple[str, str]:
    """(the server's ``postgres`` database URL, the database named in ``url``)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    name = parsed.database or "postgres"
    admin = parsed.set(database="postgres", drivername="postgresql")
    return admin.render_as_string(hide_password=False), name


def create_database(url: str, *, template: str | None = None) -> None:
    """Create the database ``url`` names (from ``template`` if given: a clone)."""
    admin, name = _admin_url(url)
    with _connect(admin) as conn:
        sql = f"CREATE DATABASE {_q(name)}"
        if template:
            sql += f" TEMPLATE {_q(template)}"
        conn.execute(sql.encode())


def drop_database(url: str) -> None:
    admin, name = _admin_url(url)
    with _connect(admin) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {_q(name)} WITH (FORCE)".encode())


def clone_database(template_url: str, name: str) -> str:
    """A new database ``name`` cloned from the one ``template_url`` names (which must have no
    open sessions); returns its URL."""
    from sqlalchemy.engine import make_url

    parsed = make_url(template_url)
    target = parsed.set(database=name).render_as_string(hide_password=False)
    drop_database(target)
    create_database(target, template=parsed.database)
    return target


def prepare_targets(
    template_url: str,
    snapshot: Path,
    keys: Iterable[str],
    load: Any,
) -> dict[str, str]:
    """Managed mode's databases: ``template_url``'s database is created and filled by
    ``load(snapshot, template_url)`` (a service's ``database_load`` command, run), then
    each target key gets its own clone ``<template>_<key>``. Returns key -> database URL.
    Call before the services start (cloning needs the template to itself)."""
    from sqlalchemy.engine import make_url

    drop_database(template_url)
    create_database(template_url)
    load(snapshot, template_url)
    base = make_url(template_url).database
    return {key: clone_database(template_url, f"{base}_{key}") for key in keys}


class _Table:
    __slots__ = ("columns", "name", "pk", "where_logged", "where_written")

    def __init__(self, name: str, columns: list[str], pk: list[str]) -> None:
        self.name = name
        self.columns = columns
        self.pk = pk
        key = "jsonb_build_array(" + ", ".join(_q(c) for c in pk) + ")"
        self.where_logged = (
            f"{key} IN (SELECT pk FROM {LOG_SCHEMA}.log WHERE tbl = %s AND pk IS NOT NULL)"
            if pk
            else "true"
        )
        # a restore: also the keys of the writes a rebase took into the baseline of the diff
        self.where_written = (
            f"{key} IN (SELECT pk FROM {LOG_SCHEMA}.log WHERE tbl = %s AND pk IS NOT NULL "
            f"UNION ALL SELECT pk FROM {LOG_SCHEMA}.done WHERE tbl = %s AND pk IS NOT NULL)"
            if pk
            else "true"
        )

    def key(self, row: dict[str, Any]) -> Any:
        if not self.pk:
            return tuple(sorted(row.items(), key=lambda kv: kv[0]))
        values = tuple(row[c] for c in self.pk)
        return values[0] if len(values) == 1 else values

    def sig(self, key: Any) -> tuple[str, ...]:
        """A key as text, comparable with a logged one (``_logged_sig``)."""
        values = key if len(self.pk) > 1 else (key,)
        return tuple(str(v) for v in values)


def _logged_sig(pk: list[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in pk)


Rows = dict[Any, dict[str, Any]]


class PgWatcher:
    """One target's PostgreSQL database: baseline, change detection, writes, restore.

    ``live`` is the database URL (invariants open their own connection from it).
    ``strategy``: ``rows`` (default), ``tables`` or ``clone`` (see the module docstring);
    ``clone`` needs ``template``, the database to clone back from, and drops the live one.
    """

    def __init__(
        self,
        url: str,
        *,
        strategy: str = "rows",
        template: str | None = None,
        leave_clean: bool = False,
    ) -> None:
        if strategy not in STRATEGIES:
            raise HarnessError(f"unknown restore strategy {strategy!r}; one of {STRATEGIES}")
        if strategy == "clone" and not template:
            raise HarnessError("the clone restore strategy needs a template database")
        self.live = url
        self.strategy = strategy
        self.template = template
        self.leave_clean = leave_clean  # a database parity does not own: uninstall on close
        self.conn: Any = None
        self.tables: dict[str, _Table] = {}
        self.sequences: list[str] = []
        self.base_sequences: tuple[Any, ...] = ()
        self.restores = 0
        self.restore_s = 0.0
        self._probe = ""
        # rebase(): the baseline of the diff, where it moved from open()'s (parity_base):
        # per table, the rows the writes a rebase took in left (by key text; None: absent),
        # or the whole table after a whole-table write; and the sequences then
        self.step_rows: dict[str, dict[tuple[str, ...], tuple[Any, dict[str, Any] | None]]] = {}
        self.step_whole: dict[str, Rows] = {}
        self.step_sequences: tuple[Any, ...] = ()
        self._seen: (
            tuple[list[int], tuple[Any, ...], dict[str, tuple[bool, Rows, Rows, set[Any]]]] | None
        )
        self._seen = None

    engine = "postgresql"

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> None:
        """Install the change log and triggers, and freeze the current state as baseline."""
        import psycopg

        try:
            self.conn = _connect(self.live)
            self._reflect()
            with self.conn.transaction():
                self.conn.execute(_SETUP.encode())
                for table in self.tables.values():
                    self._install_triggers(table)
                self._snapshot_baseline()
                self.conn.execute(f"TRUNCATE {LOG_SCHEMA}.log, {LOG_SCHEMA}.done".encode())
            self._prepare_probe()
            self.base_sequences = self._sequence_state()
            self.step_sequences = self.base_sequences
        except psycopg.Error as exc:
            raise HarnessError(
                f"cannot watch database {self.live}: {exc}", kind="database"
            ) from exc

    def close(self) -> None:
        if self.conn is not None:
            try:
                if self.leave_clean:
                    self.uninstall()
            finally:
                self.conn.close()
                self.conn = None

    def uninstall(self) -> None:
        """Remove what ``open()`` installed: the triggers, the log and the baseline schema."""
        import psycopg

        try:
            with self.conn.transaction():
                for name in self.tables:
                    self.conn.execute(
                        f"DROP TRIGGER IF EXISTS parity_log_row ON public.{_q(name)};"
                        f"DROP TRIGGER IF EXISTS parity_log_truncate ON public.{_q(name)}".encode()
                    )
                self.conn.execute(
                    f"DROP SCHEMA IF EXISTS {LOG_SCHEMA} CASCADE;"
                    f"DROP SCHEMA IF EXISTS {BASE_SCHEMA} CASCADE".encode()
                )
        except psycopg.Error as exc:
            raise HarnessError(
                f"cannot remove parity's triggers from {self.live}: {exc}", kind="database"
            ) from exc

    def _reflect(self) -> None:
        """Tables, columns and primary keys through SQLAlchemy Core reflection."""
        from sqlalchemy import create_engine, inspect
        from sqlalchemy.pool import NullPool

        sa_url = "postgresql+psycopg://" + self.live.partition("://")[2]
        engine = create_engine(sa_url, poolclass=NullPool)
        try:
            insp = inspect(engine)
            self.tables = {}
            for name in sorted(insp.get_table_names(schema="public")):
                columns = [c["name"] for c in insp.get_columns(name, schema="public")]
                pk = list(insp.get_pk_constraint(name, schema="public")["constrained_columns"])
                self.tables[name] = _Table(name, columns, pk)
            self.sequences = sorted(insp.get_sequence_names(schema="public"))
        finally:
            engine.dispose()

    def _install_triggers(self, table: _Table) -> None:
        args = ", ".join("'" + c.replace("'", "''") + "'" for c in table.pk)
        name = _q(table.name)
        self.conn.execute(
            (
                f"CREATE OR REPLACE TRIGGER parity_log_row AFTER INSERT OR UPDATE OR DELETE "
                f"ON {name} FOR EACH ROW EXECUTE FUNCTION {LOG_SCHEMA}.log_row({args});"
                f"CREATE OR REPLACE TRIGGER parity_log_truncate AFTER TRUNCATE ON {name} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {LOG_SCHEMA}.log_truncate()"
            ).encode()
        )

    def _snapshot_baseline(self) -> None:
        self.conn.execute(
            f"DROP SCHEMA IF EXISTS {BASE_SCHEMA} CASCADE; CREATE SCHEMA {BASE_SCHEMA}".encode()
        )
        for name in self.tables:
            self.conn.execute(
                f"CREATE TABLE {BASE_SCHEMA}.{_q(name)} AS TABLE public.{_q(name)}".encode()
            )
            if self.tables[name].pk:
                cols = ", ".join(_q(c) for c in self.tables[name].pk)
                self.conn.execute(
                    f"ALTER TABLE {BASE_SCHEMA}.{_q(name)} ADD PRIMARY KEY ({cols})".encode()
                )

    def _prepare_probe(self) -> None:
        parts = [f"EXISTS (SELECT 1 FROM {LOG_SCHEMA}.log)"]
        parts += [f"(SELECT last_value FROM public.{_q(s)})" for s in self.sequences]
        parts += [f"(SELECT is_called FROM public.{_q(s)})" for s in self.sequences]
        self._probe = "SELECT " + ", ".join(parts)

    def _sequence_state(self) -> tuple[Any, ...]:
        row = self.conn.execute(self._probe.encode()).fetchone()
        return tuple(row[1:])

    # -- the verbs the engine calls ----------------------------------------------------------

    def changed(self) -> bool:
        row = self.conn.execute(self._probe.encode()).fetchone()
        return bool(row[0]) or tuple(row[1:]) != self.step_sequences

    def touched(self, *, rebased: bool = False) -> dict[str, bool]:
        """Tables in the log: name -> True when a whole-table change (TRUNCATE, no key);
        ``rebased``: also those of the writes a rebase took in (what a restore puts back)."""
        source = f"{LOG_SCHEMA}.log"
        if rebased:
            source = (
                f"(SELECT tbl, pk FROM {LOG_SCHEMA}.log "
                f"UNION ALL SELECT tbl, pk FROM {LOG_SCHEMA}.done) w"
            )
        out: dict[str, bool] = {}
        for tbl, whole in self.conn.execute(
            f"SELECT tbl, bool_or(pk IS NULL) FROM {source} GROUP BY tbl".encode()
        ).fetchall():
            out[tbl] = bool(whole)
        return out

    def _rows(self, schema: str, table: _Table, whole: bool) -> Rows:
        where = "true" if whole else table.where_logged
        params = () if whole or not table.pk else (table.name,)
        cur = self.conn.cursor()
        cur.execute(f"SELECT * FROM {schema}.{_q(table.name)} WHERE {where}".encode(), params)
        cols = [d.name for d in cur.description or ()]
        out: dict[Any, dict[str, Any]] = {}
        for values in cur.fetchall():
            row = {c: _cell(v) for c, v in zip(cols, values, strict=True)}
            out[table.key(row)] = row
        return out

    def writes(self) -> Writes:
        """The rows inserted, updated and deleted since the baseline (``open()``'s, or where
        ``rebase()`` moved it), per table, keyed by primary key (``rowid``: the key's value,
        as SQLite's rowid is for ``id`` tables)."""
        writes: Writes = {}
        sequences = self._sequence_state()  # before the snapshot: a later move shows next
        seen: dict[str, tuple[bool, Rows, Rows, set[Any]]] = {}
        with self.conn.transaction():  # one snapshot across all tables
            self.conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            logged = [
                int(n) for (n,) in self.conn.execute(f"SELECT n FROM {LOG_SCHEMA}.log".encode())
            ]
            for name, whole in sorted(self.touched().items()):
                table = self.tables.get(name)
                if table is None:
                    continue
                whole = whole or not table.pk
                # the logged keys, as text: needed only where a rebase kept rows of this table
                stepped = name in self.step_rows or name in self.step_whole
                keys = self._logged_keys(table) if stepped and not whole else set()
                old = self._before(table, whole, keys)
                new = self._rows("public", table, whole)
                seen[name] = (whole, old, new, keys)
                tw = _diff_rows(old, new)
                if tw:
                    writes[name] = tw
        self._seen = (logged, sequences, seen)
        return writes

    def _logged_keys(self, table: _Table) -> set[Any]:
        rows = self.conn.execute(
            f"SELECT DISTINCT pk FROM {LOG_SCHEMA}.log WHERE tbl = %s AND pk IS NOT NULL".encode(),
            (table.name,),
        ).fetchall()
        return {_logged_sig(pk) for (pk,) in rows}

    def _before(self, table: _Table, whole: bool, keys: set[Any]) -> Rows:
        """The logged rows as the baseline of the diff has them: ``parity_base``'s, unless a
        rebase took in a later state of them."""
        name = table.name
        if name in self.step_whole:
            rows = self.step_whole[name]
            return dict(rows) if whole else {k: r for k, r in rows.items() if table.sig(k) in keys}
        old = self._rows(BASE_SCHEMA, table, whole)
        step = self.step_rows.get(name)
        if not step:
            return old
        by_sig = {table.sig(k): k for k in old}
        for sig, (key, row) in step.items():
            if not whole and sig not in keys:
                continue
            if sig in by_sig:
                old.pop(by_sig[sig])
            if row is not None:
                old[key] = row
        return old

    def rebase(self) -> None:
        """The state the last :meth:`writes` read becomes the baseline of the next
        ``changed()``/``writes()``: the log rows it read move to ``parity.done`` (a restore
        still puts their rows back from ``parity_base``) and the rows it read are kept as
        the new "before" of their keys; :meth:`restore` goes back to what :meth:`open` froze."""
        import psycopg

        seen, self._seen = self._seen, None
        if seen is None:
            return
        logged, sequences, tables = seen
        for name, (whole, old, new, keys) in tables.items():
            table = self.tables[name]
            if whole:
                self.step_whole[name] = new
                self.step_rows.pop(name, None)
                continue
            if name in self.step_whole:
                rows = self.step_whole[name]
                for key in [k for k in rows if table.sig(k) in keys]:
                    del rows[key]
                rows.update(new)
                continue
            step = self.step_rows.setdefault(name, {})
            for key in old.keys() - new.keys():
                step[table.sig(key)] = (None, None)  # deleted
            for key, row in new.items():
                step[table.sig(key)] = (key, row)
        self.step_sequences = sequences
        try:
            with self.conn.transaction():
                self.conn.execute(
                    (
                        f"WITH moved AS (DELETE FROM {LOG_SCHEMA}.log WHERE n = ANY(%s) "
                        f"RETURNING tbl, pk) INSERT INTO {LOG_SCHEMA}.done SELECT * FROM moved"
                    ).encode(),
                    (logged,),
                )
        except psycopg.Error as exc:
            raise HarnessError(f"cannot read database {self.live}: {exc}", kind="database") from exc

    def restore(self) -> None:
        started = time.perf_counter()
        import psycopg

        try:
            if self.strategy == "clone":
                self._restore_clone()
            else:
                self._restore_rows(whole_tables=self.strategy == "tables")
        except psycopg.Error as exc:
            raise HarnessError(f"cannot restore {self.live}: {exc}", kind="database") from exc
        self.step_rows, self.step_whole, self._seen = {}, {}, None
        self.step_sequences = self.base_sequences
        self.restores += 1
        self.restore_s += time.perf_counter() - started

    def _restore_rows(self, *, whole_tables: bool) -> None:
        with self.conn.transaction():
            self.conn.execute(b"SET LOCAL session_replication_role = replica")
            for name, whole in sorted(self.touched(rebased=True).items()):
                table = self.tables.get(name)
                if table is None:
                    continue
                q = _q(name)
                if whole or whole_tables or not table.pk:
                    self.conn.execute(
                        f"DELETE FROM public.{q}; INSERT INTO public.{q} "
                        f"SELECT * FROM {BASE_SCHEMA}.{q}".encode()
                    )
                    continue
                self.conn.execute(
                    f"DELETE FROM public.{q} WHERE {table.where_written}".encode(), (name, name)
                )
                self.conn.execute(
                    f"INSERT INTO public.{q} SELECT * FROM {BASE_SCHEMA}.{q} "
                    f"WHERE {table.where_written}".encode(),
                    (name, name),
                )
            self._reset_sequences()
            self.conn.execute(f"TRUNCATE {LOG_SCHEMA}.log, {LOG_SCHEMA}.done".encode())

    def _reset_sequences(self) -> None:
        if not self.sequences:
            return
        n = len(self.sequences)
        values, called = self.base_sequences[:n], self.base_sequences[n:]
        calls = ", ".join(f"setval('public.{_q(s)}', %s, %s)" for s in self.sequences)
        params: list[Any] = []
        for value, is_called in zip(values, called, strict=True):
            params += [value, is_called]
        self.conn.execute(f"SELECT {calls}".encode(), params)

    def _restore_clone(self) -> None:
        self.close()
        drop_database(self.live)
        create_database(self.live, template=self.template)
        self.conn = _connect(self.live)


def _cell(value: Any) -> Any:
    """The SQLite watcher's cell rules (JSON text parsed for comparison, blobs summarized)."""
    from harness.db.sqlite import _cell as sqlite_cell

    if isinstance(value, memoryview):
        value = bytes(value)
    return sqlite_cell(value)


def _order(key: Any) -> Any:
    return (0, key, "") if isinstance(key, int) else (1, 0, str(key))


def _diff_rows(old: dict[Any, dict[str, Any]], new: dict[Any, dict[str, Any]]) -> TableWrites:
    tw = TableWrites()
    for key in sorted(new.keys() - old.keys(), key=_order):
        tw.inserted.append({"rowid": key, **new[key]})
    for key in sorted(old.keys() - new.keys(), key=_order):
        tw.deleted.append({"rowid": key, **old[key]})
    for key in sorted(old.keys() & new.keys(), key=_order):
        was, now = old[key], new[key]
        if was != now:
            changed = sorted(c for c in set(was) | set(now) if was.get(c) != now.get(c))
            tw.updated.append({"rowid": key, "changed": changed, "before": was, "after": now})
    return tw


# -- the SQLite snapshot loader ---------------------------------------------------------------


def load_sqlite_snapshot(
    sqlite_path: Path,
    url: str,
    metadata: Any,
    *,
    skip_tables: Iterable[str] = (),
) -> dict[str, int]:
    """Create ``metadata``'s tables in the (empty) PostgreSQL database ``url`` and copy every
    row of the same tables from the SQLite file; sequences continue where SQLite's
    AUTOINCREMENT counters (or the largest ids) left off. Returns rows copied per table.

    Values are converted where the PostgreSQL column type asks for it (booleans from 0/1,
    JSON from text, timestamps from ISO text); text columns receive the text as is.
    """
    import sqlite3

    from sqlalchemy import Boolean, DateTime, Integer, create_engine, text
    from sqlalchemy.types import JSON

    engine = create_engine("postgresql+psycopg://" + url.partition("://")[2], pool_pre_ping=False)
    skip = set(skip_tables)
    copied: dict[str, int] = {}
    src = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    try:
        metadata.create_all(engine)
        seqs = {}
        if src.execute("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'").fetchone():
            seqs = dict(src.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
        with engine.begin() as conn:
            for table in metadata.sorted_tables:
                if table.name in skip:
                    continue
                cur = src.execute(f"SELECT * FROM {_q(table.name)}")
                cols = [d[0] for d in cur.description]
                converters = {c: _converter(table.c[c].type, Boolean, DateTime, JSON) for c in cols}
                rows = [
                    {c: converters[c](v) for c, v in zip(cols, values, strict=True)}
                    for values in cur.fetchall()
                ]
                if rows:
                    conn.execute(table.insert(), rows)
                copied[table.name] = len(rows)
                for column in table.primary_key.columns:
                    if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                        top = max([seqs.get(table.name, 0)] + [r[column.name] or 0 for r in rows])
                        conn.execute(
                            text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, :on)"),
                            {
                                "t": table.name,
                                "c": column.name,
                                "v": max(top, 1),
                                "on": top > 0,
                            },
                        )
    finally:
        src.close()
        engine.dispose()
    return copied


def _converter(column_type: Any, boolean: type, datetime_: type, json_: type) -> Any:
    if isinstance(column_type, boolean):
        return lambda v: None if v is None else bool(v)
    if isinstance(column_type, json_):
        return lambda v: json.loads(v) if isinstance(v, str) else v
    if isinstance(column_type, datetime_):
        from datetime import datetime

        return lambda v: (
            datetime.fromisoformat(v.replace("Z", "+00:00")) if isinstance(v, str) else v
        )
    return lambda v: v
