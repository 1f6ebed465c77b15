"""Copy the legacy-seeded SQLite snapshot into a PostgreSQL database (the template targets
are cloned from): the schema from the port's models (``metadata.create_all``), then the rows,
then each id sequence set where SQLite's AUTOINCREMENT counter stands.

``python -m backend.pgload SNAPSHOT.db postgresql://user@host:port/template``
(the database must exist and be empty).
"""

from __future__ import annotations

import sys
from pathlib import Path

from backend.models import Base

__all__ = ["load"]


def load(snapshot: Path, url: str) -> dict[str, int]:
    """Rows copied per table."""
    from harness.db.postgres import load_sqlite_snapshot

    return load_sqlite_snapshot(snapshot, url, Base.metadata)


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
