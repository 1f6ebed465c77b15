"""Copy the legacy-seeded SQLite snapshot into a PostgreSQL database (the template targets
are cloned from): the schema from the port's models (``metadata.create_all``), then the rows,
then each id sequence set where SQLite's AUTOINCREMENT counter stands.

``python -m backend.pgload SNAPSHOT.db postgresql://user@host:port/template``
(the database must exist and be empty).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from sqlalchemy import Integer, create_engine, text

from backend.models import Base

__all__ = ["load"]


def load(snapshot: Path, url: str) -> dict[str, int]:
    """Rows copied per table. The port's own code (parity runs it as ``database_load``, and
    neither imports the other): its models read the SQLite rows and write the PostgreSQL ones,
    so every value arrives as the type the port declares."""
    source = create_engine(
        "sqlite://", creator=lambda: sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True)
    )
    target = create_engine("postgresql+psycopg://" + url.partition("://")[2])
    copied: dict[str, int] = {}
    try:
        Base.metadata.create_all(target)
        with source.connect() as src, target.begin() as dst:
            counters: dict[str, int] = {}
            if src.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first():
                seq = src.execute(text("SELECT name, seq FROM sqlite_sequence"))
                counters = {str(name): int(value) for name, value in seq}
            for table in Base.metadata.sorted_tables:
                rows = [dict(row._mapping) for row in src.execute(table.select())]
                if rows:
                    dst.execute(table.insert(), rows)
                copied[table.name] = len(rows)
                for key in table.primary_key.columns:
                    if isinstance(key.type, Integer) and key.autoincrement in (True, "auto"):
                        # the next id continues where SQLite's AUTOINCREMENT counter stands
                        top = max([counters.get(table.name, 0), *(r[key.name] or 0 for r in rows)])
                        dst.execute(
                            text("SELECT setval(pg_get_serial_sequence(:t, :c), :v, :called)"),
                            {"t": table.name, "c": key.name, "v": max(top, 1), "called": top > 0},
                        )
    finally:
        source.dispose()
        target.dispose()
    return copied


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
