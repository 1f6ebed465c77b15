"""The default ``database_load``: a seeded SQLite snapshot copied into an empty PostgreSQL
database with the snapshot's own schema, for a service that has no loader of its own.

``python -m harness.db.load SNAPSHOT.db postgresql://user@host:port/template``

The schema is read from the SQLite file by SQLAlchemy Core reflection (tables, primary and
foreign keys, unique constraints, indexes) and translated where the engines differ:

- every integer column becomes ``BIGINT`` (SQLite's ``INTEGER`` holds 64 bits; an integer
  primary key becomes ``BIGSERIAL``, its sequence continued where SQLite's counter stands);
- ``REAL``/``FLOAT``/``DOUBLE`` become ``DOUBLE PRECISION`` (SQLite's REAL is 8 bytes;
  PostgreSQL's ``REAL`` only 4: 12.34 would come back as 12.340000152);
- a column default that is not a plain literal or ``CURRENT_TIMESTAMP`` is dropped
  (``strftime(...)``, ``datetime('now')`` are SQLite functions): the service writes the value;
- virtual tables (FTS5 and the like) and their shadow tables are skipped;
- a table whose primary key holds a NULL in the snapshot (SQLite allows it in a key that is
  not an ``INTEGER`` rowid alias) gets no primary key: its rows load as they are, and the
  watcher compares and restores it as a whole table.

Other declared types (``TEXT``, ``VARCHAR(n)``, ``BLOB``, ``NUMERIC``, ``BOOLEAN``,
``DATETIME``) keep their meaning; values are converted as
:func:`harness.db.postgres.load_sqlite_snapshot` does (0/1 to booleans, ISO text to
timestamps). A service whose PostgreSQL schema differs from its SQLite one (other types,
other constraints) names its own loader in ``database_load``.
"""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path
from typing import Any

__all__ = ["load", "sqlite_metadata"]

_LITERAL = re.compile(r"^\s*(?:-?\d+(?:\.\d+)?|'(?:[^']|'')*'|NULL|CURRENT_TIMESTAMP)\s*$", re.I)


def _virtual_tables(path: Path) -> set[str]:
    """Virtual tables and their shadow tables (``<name>_data``, ``<name>_idx``, ...)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    finally:
        conn.close()
    virtual = {name for name, sql in rows if (sql or "").upper().startswith("CREATE VIRTUAL")}
    return {
        name for name, _sql in rows if any(name == v or name.startswith(v + "_") for v in virtual)
    }


def sqlite_metadata(path: Path) -> Any:
    """The SQLite file's schema as a SQLAlchemy ``MetaData`` fit for PostgreSQL."""
    from sqlalchemy import (
        BigInteger,
        Double,
        Float,
        Integer,
        MetaData,
        create_engine,
    )
    from sqlalchemy.pool import NullPool

    skip = _virtual_tables(path)
    engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
    metadata = MetaData()
    try:
        metadata.reflect(engine, only=lambda name, _meta: name not in skip)
    finally:
        engine.dispose()
    keyless = _null_keys(path, metadata)
    if keyless:
        metadata = _without_keys(metadata, keyless)
    for table in metadata.tables.values():
        for column in table.columns:
            if isinstance(column.type, Integer):
                column.type = BigInteger()
            elif isinstance(column.type, Float | Double):
                column.type = Double()
            default = column.server_default
            text = str(getattr(default, "arg", "")) if default is not None else ""
            if default is not None and not _LITERAL.match(text):
                column.server_default = None
    return metadata


def _null_keys(path: Path, metadata: Any) -> set[str]:
    """Tables whose primary key holds a NULL in the snapshot: SQLite allows it in a key that
    is not an INTEGER rowid alias (``id SERIAL PRIMARY KEY`` stays NULL there), PostgreSQL
    does not."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        out = set()
        for table in metadata.tables.values():
            cols = [c.name for c in table.primary_key.columns]
            if not cols:
                continue
            where = " OR ".join(f'"{c}" IS NULL' for c in cols)
            if conn.execute(f'SELECT 1 FROM "{table.name}" WHERE {where} LIMIT 1').fetchone():
                out.add(table.name)
        return out
    finally:
        conn.close()


def _without_keys(metadata: Any, keyless: set[str]) -> Any:
    """``metadata`` with the ``keyless`` tables rebuilt without a primary key (their columns
    nullable, nothing referencing them): PostgreSQL takes their rows as SQLite holds them,
    and the watcher compares and restores such a table whole."""
    from sqlalchemy import Column, MetaData, Table

    out = MetaData()
    for table in metadata.sorted_tables:
        if table.name in keyless:
            Table(
                table.name,
                out,
                *[Column(c.name, c.type, nullable=True) for c in table.columns],
            )
        else:
            table.to_metadata(out)
    return out


def load(snapshot: Path, url: str) -> dict[str, int]:
    """Rows copied per table (the database must exist and be empty)."""
    from harness.db.postgres import load_sqlite_snapshot

    return load_sqlite_snapshot(snapshot, url, sqlite_metadata(snapshot))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    copied = load(Path(args[0]), args[1])
    print(", ".join(f"{table} {n}" for table, n in copied.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
