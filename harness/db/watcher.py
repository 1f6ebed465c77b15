"""The database behind one target, whatever the engine: one protocol, one factory, and the
normalization that lets a SQLite target's writes be compared with a PostgreSQL target's.

The engine only ever holds a :class:`Watcher`. :func:`open_watcher` picks the implementation
from what the target's database is: a path (or ``sqlite:///path``) is today's
:class:`harness.db.sqlite.DbWatcher`, unchanged; a ``postgresql://`` URL is
:class:`harness.db.postgres.PgWatcher`.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from harness.compare.normalization import JsonText, json_style
from harness.errors import HarnessError
from harness.models import TableWrites, Writes

__all__ = [
    "CROSS_ENGINE_NOTE",
    "Watcher",
    "engine_of",
    "normalize_cross_engine",
    "normalize_pair",
    "open_watcher",
]


@runtime_checkable
class Watcher(Protocol):
    """What the engine needs of one target's database."""

    engine: str  # "sqlite" | "postgresql": results.json names it; normalize_pair reads it
    restores: int
    restore_s: float

    @property
    def live(self) -> Any:
        """What invariants read: a SQLite file path, or a database URL."""
        ...

    def open(self) -> None:
        """Freeze the current state as the baseline (called once, after logins)."""

    def changed(self) -> bool:
        """Did anything write since the baseline (the last restore or rebase)? Cheap."""
        ...

    def writes(self) -> Writes:
        """Rows inserted, updated and deleted since the baseline, per table."""
        ...

    def rebase(self) -> None:
        """Make the state the last ``writes()`` read the baseline of the next ``changed()``
        and ``writes()`` (a replay's request then reports only its own rows); ``restore()``
        still goes back to the state ``open()`` froze. No ``writes()`` since: nothing."""

    def restore(self) -> None:
        """Put the database back to the baseline ``open()`` froze, under the running service."""

    def close(self) -> None: ...


def engine_of(database: str | Path) -> str:
    """``sqlite`` or ``postgresql``, from a path or a URL."""
    text = str(database)
    scheme = text.partition("://")[0].lower() if "://" in text else ""
    if scheme.startswith(("postgres", "postgresql")):
        return "postgresql"
    if scheme in ("", "file") or scheme.startswith("sqlite"):
        return "sqlite"
    raise HarnessError(f"unsupported database URL {text!r}: sqlite or postgresql only")


def _sqlite_path(database: str | Path) -> Path:
    text = str(database)
    if "://" not in text:
        return Path(text)
    rest = text.partition("://")[2]
    return Path(rest[1:] if rest.startswith("/") and not rest.startswith("//") else rest)


def open_watcher(
    database: str | Path,
    baseline: Path | None = None,
    *,
    strategy: str = "rows",
    template: str | None = None,
    leave_clean: bool = False,
) -> Watcher:
    """A watcher for one target's database, not yet opened (call ``.open()`` after logins).

    ``database``: a SQLite file path / ``sqlite:///`` URL, or a ``postgresql://`` URL.
    ``baseline``: SQLite only, where the baseline copy goes (a file in the run's temp dir).
    ``strategy``/``template``: PostgreSQL only, how restore works (see ``db_postgres``).
    ``leave_clean``: PostgreSQL only, a database parity does not own (URL mode): ``close()``
    removes the triggers and schemas ``open()`` installed.
    """
    engine = engine_of(database)
    if engine == "sqlite":
        from harness.db.sqlite import DbWatcher

        path = _sqlite_path(database)
        return DbWatcher(path, baseline or path.with_name(path.name + ".baseline"))
    from harness.db.postgres import PgWatcher

    return PgWatcher(str(database), strategy=strategy, template=template, leave_clean=leave_clean)


# -- across engines -----------------------------------------------------------------------------

CROSS_ENGINE_NOTE = (
    "rows compared across engines after type normalization: booleans as 0/1, timestamps as "
    "UTC ISO text with milliseconds, JSON values parsed, integral numerics as integers; "
    "SQLite's sqlite_sequence counters dropped (PostgreSQL sequences are not rows)"
)


def _iso(moment: datetime) -> str:
    """As JavaScript's toISOString writes it (``2024-01-02T03:04:05.000Z``); a timestamp
    without a time zone is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _canonical_json(value: Any) -> JsonText:
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return JsonText(raw, value, json_style(raw, value))


def normalize_value(value: Any) -> Any:
    """One cell in the form both engines agree on (see :data:`CROSS_ENGINE_NOTE`)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        return float(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return value  # 2.0 stays a float: SQLite REAL and PG double agree on it already
    if isinstance(value, (dict, list)):
        # jsonb arrives parsed and PostgreSQL re-renders it, so its text says nothing of how
        # the service wrote it: taken as JSON.stringify-compact, compared by value. A JSON
        # *text* column keeps its own text (the service wrote it): its format still counts.
        return _canonical_json(value)
    return value


def _row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k == "rowid" else normalize_value(v)) for k, v in row.items()}


def normalize_cross_engine(writes: Writes) -> Writes:
    """``writes`` with every cell in the cross-engine form and no ``sqlite_sequence``."""
    out: Writes = {}
    for table, tw in writes.items():
        if table == "sqlite_sequence":
            continue
        out[table] = TableWrites(
            inserted=[_row(r) for r in tw.inserted],
            updated=[
                {
                    **r,
                    "before": _row(r["before"]),
                    "after": _row(r["after"]),
                }
                for r in tw.updated
            ],
            deleted=[_row(r) for r in tw.deleted],
        )
    return out


def normalize_pair(
    legacy: Writes | None,
    candidate: Writes | None,
    legacy_engine: str,
    candidate_engine: str,
) -> tuple[Writes | None, Writes | None]:
    """Both sides' writes, normalized only when the engines differ (same engine: as is)."""
    if legacy_engine == candidate_engine:
        return legacy, candidate
    return (
        None if legacy is None else normalize_cross_engine(legacy),
        None if candidate is None else normalize_cross_engine(candidate),
    )
