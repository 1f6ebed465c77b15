"""One engine per process: the legacy's SQLite file (WAL, busy timeout, foreign keys), or a
PostgreSQL database when ``DATABASE_URL`` names one (same models, loaded by ``backend.pgload``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Row,
    Select,
    create_engine,
    event,
    false,
    inspect,
    make_url,
)
from sqlalchemy.orm import Session, sessionmaker

from backend.errors import validation_error
from backend.settings import get_settings


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    # The legacy's Drizzle migrations own the schema; here we only set per-connection pragmas.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA busy_timeout = 5000")
    cursor.execute("PRAGMA foreign_keys = ON")
    # better-sqlite3 is built with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1: the legacy commits in WAL
    # with synchronous=NORMAL (no fsync per commit). Same durability, same speed here.
    cursor.execute("PRAGMA synchronous = NORMAL")
    # ... and with SQLITE_DEFAULT_CACHE_SIZE=-16000: a 16 MiB page cache per connection, where
    # Python's sqlite3 keeps SQLite's 2 MiB. Once a table outgrows 2 MiB (the bench's own
    # writes do it), every aggregate re-reads pages the legacy still holds.
    cursor.execute("PRAGMA cache_size = -16000")
    cursor.close()


def make_engine(path_or_url: str) -> Engine:
    """An engine on a SQLite file path, or on any SQLAlchemy URL (``postgresql://`` is
    served by psycopg 3)."""
    if "://" not in path_or_url:
        path_or_url = f"sqlite+pysqlite:///{path_or_url}"
    url = make_url(path_or_url)
    if url.get_backend_name() == "postgresql":
        engine = create_engine(
            url.set(drivername="postgresql+psycopg"),
            pool_size=8,
            max_overflow=8,
            pool_pre_ping=True,  # a database restored by re-cloning drops the pool's sessions
        )
        return engine
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 5.0},
        pool_size=8,
        max_overflow=8,
    )
    event.listen(engine, "connect", _on_connect)
    return engine


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().url)


# SQLite text holds NUL (U+0000) like any other character, and the legacy stores and matches
# it; PostgreSQL text cannot hold it at all (psycopg refuses to send it). Two consequences on
# PostgreSQL, handled here once: a lookup by a value with a NUL matches no row (none can hold
# it), and a write of such a value is refused with the legacy's 400 shape, not a 500.
NUL = "\x00"
NUL_MESSAGE = "Text cannot contain a NUL character (U+0000)"


def holds_nul(session: Session) -> bool:
    """Whether this session's engine can store (and so match) text containing NUL."""
    return session.get_bind().dialect.name != "postgresql"


def matchable(session: Session, *values: object) -> bool:
    """False when no stored row can equal one of ``values``: text with a NUL on PostgreSQL."""
    return holds_nul(session) or not any(isinstance(v, str) and NUL in v for v in values)


def raw_rows(session: Session, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` with positional ``?`` parameters (the legacy's statements), through the
    driver itself on either engine: sqlite3 takes ``?``; psycopg takes ``%s`` (a literal ``%``
    doubled). The statements hold no ``?`` or ``%`` of their own outside parameters."""
    connection = session.connection().connection.driver_connection
    assert connection is not None
    if session.get_bind().dialect.name == "postgresql":
        sql = sql.replace("%", "%%").replace("?", "%s")
    return [tuple(row) for row in connection.execute(sql, list(params)).fetchall()]


def where_text(
    session: Session, condition: ColumnElement[bool], *values: object
) -> ColumnElement[bool]:
    """``condition`` (a comparison with ``values``), or ``false()`` where it cannot match."""
    return condition if matchable(session, *values) else false()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _refuse_nul(session: Session, _context: Any, _instances: Any) -> None:
    """before_flush on PostgreSQL: a new or changed text with a NUL cannot be stored."""
    issues = []
    for obj in [*session.new, *session.dirty]:
        state = inspect(obj)
        for attr in state.mapper.column_attrs:
            value = state.attrs[attr.key].value
            if isinstance(value, str) and NUL in value:
                name = attr.columns[0].name
                issues.append({"path": _camel(name), "code": "custom", "message": NUL_MESSAGE})
    if issues:
        raise validation_error(issues)


@cache
def columns_of(model: type[Any]) -> tuple[Any, ...]:
    """Every mapped column of ``model`` labelled with its attribute name: a Core select of
    these gives rows the serializers read as they read ORM objects (``row.metadata_``,
    ``row.business_unit``), without the ORM's identity map and instance loading (a read-only
    list builds no objects it never changes)."""
    mapper = inspect(model)
    return tuple(
        column.label(attr.key) if attr.key != column.key else column
        for attr in mapper.column_attrs
        for column in attr.columns[:1]
    )


class Prepared:
    """A fixed read statement (its values as ``bindparam``s) compiled once per SQL dialect and
    sent as the driver's own SQL: no statement building, cache key or ORM loading per request
    (the hot reads: the caller's session on every request). Rows come back as the driver
    returns them (text, integers and reals need no result processing on either engine), with
    the selected columns' names (or labels) as attributes."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _sql(self, session: Session) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        dialect = session.get_bind().dialect
        found = self._compiled.get(dialect.name)
        if found is None:
            compiled = self.statement.compile(dialect=dialect)
            order = tuple(compiled.positiontup or ()) if compiled.positional else None
            # the statement's own values (a LIMIT, a literal compared): sent every time
            defaults = dict(compiled.params)
            found = self._compiled[dialect.name] = (str(compiled), order, defaults)
        return found

    def all(self, session: Session, **params: Any) -> Sequence[Row[Any]]:
        sql, order, defaults = self._sql(session)
        named = {**defaults, **params}
        values: Any = tuple(named[name] for name in order) if order is not None else named
        return session.connection().exec_driver_sql(sql, values).all()

    def first(self, session: Session, **params: Any) -> Row[Any] | None:
        rows = self.all(session, **params)
        return rows[0] if rows else None


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    engine = get_engine()
    maker = sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)
    if engine.dialect.name == "postgresql":
        event.listen(maker, "before_flush", _refuse_nul)
    return maker


def open_session() -> Session:
    """A session outside a request (the realtime channel opens one per poll: a fresh read)."""
    return _sessionmaker()()


async def get_session() -> AsyncIterator[Session]:
    """A plain (blocking) session used inside async handlers: SQLite answers in well under a
    millisecond, so running it on the event loop beats a thread-pool hop per request."""
    with _sessionmaker()() as session:
        yield session
