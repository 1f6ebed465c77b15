"""Database invariants: declared in a contract file, checked on each target after each step.

A contract file (``contracts/invariants.py``) registers plain functions with ``@invariant``.
Each receives an :class:`InvariantContext` holding a read-only connection to one target's
database, the step that was just replayed (when there is one) and, optionally, a way to ask
that target's API. An invariant fails by raising ``AssertionError`` (plain ``assert``).
"""

from __future__ import annotations

import importlib.util
import sqlite3
import sys
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = [
    "ApiGet",
    "Invariant",
    "InvariantContext",
    "InvariantOutcome",
    "InvariantResult",
    "Probe",
    "StepInfo",
    "compare_outcomes",
    "invariant",
    "load_invariants",
    "probe_invariants",
    "read_only",
    "registered",
    "run_invariants",
]

ApiGet = Callable[[str], tuple[int, Any]]
"""GET a path (query string allowed) on the target being checked, as the ``[invariants]
api_role``; returns (status, parsed JSON body)."""


@dataclass(frozen=True)
class StepInfo:
    """The request just replayed on this target and the rows it wrote, per table."""

    method: str
    path: str
    status: int
    writes: Mapping[str, Mapping[str, list[dict[str, Any]]]] = field(default_factory=dict)

    @property
    def is_write(self) -> bool:
        return self.method.upper() not in {"GET", "HEAD", "OPTIONS"}

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    def rows(self, table: str, change: str) -> list[dict[str, Any]]:
        """Rows of ``table`` with ``change`` in {"inserted", "updated", "deleted"}."""
        return list(self.writes.get(table, {}).get(change, []))


@dataclass(frozen=True)
class InvariantContext:
    """``db`` is a ``sqlite3.Connection`` (``engine == "sqlite"``) or, on PostgreSQL, a
    read-only SQLAlchemy ``Connection``; ``scalar``/``all`` take ``?`` placeholders on both."""

    db: Any
    step: StepInfo | None = None
    api: ApiGet | None = None
    engine: str = "sqlite"

    def _execute(self, sql: str, params: tuple[Any, ...]) -> Any:
        if self.engine == "sqlite":
            return self.db.execute(sql, params)
        # psycopg reads placeholders even without parameters: a literal % is written %%
        return self.db.exec_driver_sql(sql.replace("%", "%%").replace("?", "%s"), params)

    def scalar(self, sql: str, *params: Any) -> Any:
        row = self._execute(sql, params).fetchone()
        return None if row is None else row[0]

    def all(self, sql: str, *params: Any) -> list[Any]:
        return list(self._execute(sql, params).fetchall())


@dataclass(frozen=True)
class Invariant:
    name: str
    check: Callable[[InvariantContext], None]
    description: str
    needs_step: bool = False
    needs_api: bool = False
    tables: tuple[str, ...] = ()  # checked only after a step that wrote one of these

    def applies_to(self, written: Collection[str] | None) -> bool:
        """Every step starts from a checked baseline, so rows written since, none of them in
        ``tables``, cannot have broken this invariant (``written`` unknown or empty, as when
        the data changed where no diff looks: it applies)."""
        if not self.tables or not written:
            return True
        return any(table in written for table in self.tables)


@dataclass(frozen=True)
class InvariantResult:
    name: str
    passed: bool
    skipped: bool = False
    message: str = ""
    elapsed_ms: float = 0.0


@dataclass(frozen=True)
class InvariantOutcome:
    """One invariant on both targets, and what it means for the pair."""

    name: str
    legacy: InvariantResult
    candidate: InvariantResult

    @property
    def verdict(self) -> str:
        """``ok``; ``candidate`` (broken on the port only: drift); ``legacy`` (broken on the
        legacy only: drift too, the port differs); ``both`` (a bug the port inherited)."""
        lf = not self.legacy.passed and not self.legacy.skipped
        cf = not self.candidate.passed and not self.candidate.skipped
        if lf and cf:
            return "both"
        if cf:
            return "candidate"
        if lf:
            return "legacy"
        return "ok"


_REGISTRY: dict[str, Invariant] = {}


def invariant(
    name: str,
    *,
    needs_step: bool = False,
    needs_api: bool = False,
    tables: Iterable[str] = (),
) -> Callable[[Callable[[InvariantContext], None]], Callable[[InvariantContext], None]]:
    """Register ``fn`` as the invariant ``name``.

    ``needs_step``: it reads ``ctx.step`` (skipped where there is none); ``needs_api``: it
    calls ``ctx.api(path)``, a GET on the target being checked as the ``[invariants]
    api_role``; ``tables``: after a step, it is checked only if the step wrote one of them.
    Without ``tables`` (and without ``needs_step``/``needs_api``), the tables it reads are
    found by checking it once on the baseline (:func:`probe_invariants`).
    """

    def register(fn: Callable[[InvariantContext], None]) -> Callable[[InvariantContext], None]:
        doc = (fn.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = Invariant(
            name=name,
            check=fn,
            description=doc[0] if doc else name,
            needs_step=needs_step,
            needs_api=needs_api,
            tables=tuple(tables),
        )
        return fn

    return register


def registered() -> list[Invariant]:
    return list(_REGISTRY.values())


def load_invariants(path: Path) -> list[Invariant]:
    """Import a contract's invariants file and return exactly what it registered.

    The file is loaded into a clean registry, so two contracts (or two runs in one process)
    never mix their invariants; the process-wide registry is left as it was.
    """
    if not path.is_file():
        raise HarnessError(f"{path}: invariants file not found")
    module_name = f"_parity_invariants_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise HarnessError(f"{path}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    saved = dict(_REGISTRY)
    _REGISTRY.clear()
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
        return list(_REGISTRY.values())
    except Exception as exc:
        raise HarnessError(f"{path}: importing invariants failed: {exc!r}") from exc
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


_PG_ENGINES: dict[str, Any] = {}


def _pg_engine(url: str) -> Any:
    """One small pool per database URL, sessions read-only and in autocommit (a failing
    check cannot abort the next one's transaction)."""
    engine = _PG_ENGINES.get(url)
    if engine is None:
        from sqlalchemy import create_engine, event

        engine = create_engine(
            "postgresql+psycopg://" + url.partition("://")[2],
            isolation_level="AUTOCOMMIT",
            pool_size=2,
        )

        def _read_only(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("SET default_transaction_read_only = on")

        event.listen(engine, "connect", _read_only)
        _PG_ENGINES[url] = engine
    return engine


@contextmanager
def _connection(db: Path | str) -> Iterator[tuple[Any, str]]:
    from harness.db.watcher import engine_of

    if engine_of(db) == "postgresql":
        with _pg_engine(str(db)).connect() as conn:
            yield conn, "postgresql"
        return
    with read_only(Path(db)) as sqlite_conn:
        yield sqlite_conn, "sqlite"


@contextmanager
def _reuse(conn: sqlite3.Connection) -> Iterator[tuple[Any, str]]:
    yield conn, "sqlite"


def open_read_only(db_path: Path, *, cached_statements: int = 128) -> sqlite3.Connection:
    """A read-only connection (rows as ``sqlite3.Row``) that never changes the file."""
    conn = sqlite3.connect(
        f"file:{db_path}?mode=ro",
        uri=True,
        timeout=5.0,
        check_same_thread=False,
        cached_statements=cached_statements,
    )
    conn.row_factory = sqlite3.Row
    return conn


@contextmanager
def read_only(db_path: Path) -> Iterator[sqlite3.Connection]:
    """A read-only connection that never changes the file (WAL readers are fine)."""
    conn = open_read_only(db_path)
    try:
        yield conn
    finally:
        conn.close()


def run_invariants(
    invariants: list[Invariant],
    db_path: Path | str,
    *,
    step: StepInfo | None = None,
    api: ApiGet | None = None,
    written: Collection[str] | None = None,
    connection: sqlite3.Connection | None = None,
) -> list[InvariantResult]:
    """Check ``invariants`` on one database. ``step``: the request just replayed, with its
    own writes; without one, ``written`` may name the tables written since the baseline
    (a stateful sequence's steps), so ``tables``-scoped invariants still run only where
    they can have broken. ``db_path``: a SQLite file, or a PostgreSQL URL (a watcher's
    ``live``); ``connection``: an open read-only one on that SQLite file, to reuse."""
    from sqlalchemy.exc import DBAPIError

    results: list[InvariantResult] = []
    if step is not None:
        written = set(step.writes)
    opened = _reuse(connection) if connection is not None else _connection(db_path)
    with opened as (conn, engine):
        ctx = InvariantContext(db=conn, step=step, api=api, engine=engine)
        for inv in invariants:
            if (
                (inv.needs_step and step is None)
                or (inv.needs_api and api is None)
                or not inv.applies_to(written)
            ):
                results.append(InvariantResult(inv.name, passed=True, skipped=True))
                continue
            started = time.perf_counter()
            try:
                inv.check(ctx)
            except AssertionError as exc:
                message = str(exc) or f"{inv.name} does not hold"
                results.append(
                    InvariantResult(inv.name, False, message=message, elapsed_ms=_ms(started))
                )
            except (sqlite3.Error, DBAPIError) as exc:
                results.append(
                    InvariantResult(
                        inv.name, False, message=f"SQL error: {exc}", elapsed_ms=_ms(started)
                    )
                )
            except HarnessError:
                raise  # a target went away mid-check: the run's error, not this invariant's
            except Exception as exc:  # a check that crashes on one side only is drift too
                results.append(
                    InvariantResult(
                        inv.name,
                        False,
                        message=f"the check raised {exc!r}",
                        elapsed_ms=_ms(started),
                    )
                )
            else:
                results.append(InvariantResult(inv.name, True, elapsed_ms=_ms(started)))
    return results


# -- what an invariant reads ---------------------------------------------------------------------
_NONDETERMINISTIC = {
    "random",
    "randomblob",
    "date",
    "time",
    "datetime",
    "julianday",
    "unixepoch",
    "strftime",
    "timediff",
    "current_date",
    "current_time",
    "current_timestamp",
    "changes",
    "total_changes",
    "last_insert_rowid",
}


@dataclass(frozen=True)
class Probe:
    """An invariant checked once on the baseline: its result there, and the tables it read
    (``None``: it reads something no write diff sees, so it always runs)."""

    result: InvariantResult
    reads: frozenset[str] | None


class _Opaque(Exception):
    """Raised into an invariant that reached past the database during a probe."""


class _OpaqueStep:
    """``ctx.step`` during a probe: any use of it makes the invariant opaque."""

    def __init__(self, seen: list[bool]) -> None:
        self._seen = seen

    def __bool__(self) -> bool:
        self._seen[0] = True
        return True

    def __getattr__(self, name: str) -> Any:
        self._seen[0] = True
        raise _Opaque(name)


class _Recording:
    """``ctx.db`` during a probe: SQL goes through (and past the authorizer); anything else
    (a backup, a blob handle, ...) is used as asked but makes the invariant opaque."""

    def __init__(self, conn: sqlite3.Connection, seen: list[bool]) -> None:
        self._conn = conn
        self._seen = seen

    def execute(self, *args: Any) -> Any:
        return self._conn.execute(*args)

    def executemany(self, *args: Any) -> Any:
        return self._conn.executemany(*args)

    def cursor(self) -> Any:
        return self._conn.cursor()

    def __getattr__(self, name: str) -> Any:
        self._seen[0] = True
        return getattr(self._conn, name)


def probe_invariants(
    invariants: list[Invariant], db_path: Path, watched: Collection[str]
) -> dict[str, Probe]:
    """Check each invariant that needs neither a step nor the API and names no ``tables``
    once on ``db_path`` (a SQLite copy of the baseline), recording through SQLite's
    authorizer which tables it reads. An invariant is a function of what it reads: after a
    step that wrote none of those tables, its result is the one it had on the baseline.
    Reading a pragma, a table no diff watches (an FTS index, the schema), a clock or random
    function, or using the connection for anything but SQL, makes it opaque: it always runs.
    """
    from sqlalchemy.exc import DBAPIError

    watched = set(watched)
    out: dict[str, Probe] = {}
    for inv in invariants:
        if inv.needs_step or inv.needs_api or inv.tables:
            continue
        reads: set[str] = set()
        seen = [False]  # opaque

        def authorize(
            action: int,
            arg1: str | None,
            arg2: str | None,
            _db: str | None,
            _source: str | None,
            reads: set[str] = reads,
            seen: list[bool] = seen,
        ) -> int:
            if action == sqlite3.SQLITE_READ and arg1 is not None:
                if arg1 in watched:
                    reads.add(arg1)
                else:
                    seen[0] = True
            elif action == sqlite3.SQLITE_FUNCTION:
                if (arg2 or "").lower() in _NONDETERMINISTIC:
                    seen[0] = True
            elif action not in (sqlite3.SQLITE_SELECT, sqlite3.SQLITE_RECURSIVE):
                seen[0] = True
            return sqlite3.SQLITE_OK

        conn = open_read_only(db_path, cached_statements=0)  # every statement authorized
        try:
            conn.set_authorizer(authorize)

            def api(_path: str, seen: list[bool] = seen) -> tuple[int, Any]:
                seen[0] = True
                raise _Opaque("api")

            ctx = InvariantContext(
                db=_Recording(conn, seen),
                step=_OpaqueStep(seen),  # type: ignore[arg-type]
                api=api,
            )
            started = time.perf_counter()
            try:
                inv.check(ctx)
            except AssertionError as exc:
                message = str(exc) or f"{inv.name} does not hold"
                result = InvariantResult(inv.name, False, message=message)
            except (sqlite3.Error, DBAPIError) as exc:
                result = InvariantResult(inv.name, False, message=f"SQL error: {exc}")
            except Exception as exc:  # a crash is checked live, where it is reported
                seen[0] = True
                result = InvariantResult(inv.name, False, message=f"the check raised {exc!r}")
            else:
                result = InvariantResult(inv.name, True, elapsed_ms=_ms(started))
        finally:
            conn.close()
        out[inv.name] = Probe(result, None if seen[0] else frozenset(reads))
    return out


def compare_outcomes(
    legacy: list[InvariantResult], candidate: list[InvariantResult]
) -> list[InvariantOutcome]:
    by_name = {r.name: r for r in candidate}
    return [
        InvariantOutcome(r.name, r, by_name.get(r.name, InvariantResult(r.name, True, True)))
        for r in legacy
    ]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
