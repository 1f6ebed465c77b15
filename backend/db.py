"""One engine per process: the legacy's SQLite file (WAL, busy timeout, foreign keys), or a
PostgreSQL database when ``DATABASE_URL`` names one (same models, loaded by ``backend.pgload``)."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Engine,
    Executable,
    Result,
    bindparam,
    create_engine,
    event,
    false,
    insert,
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


class Statements:
    """Read statements built once per *shape* and reused: each request passes its values as
    bound parameters. Building a select (coercing every clause) and computing its cache key
    cost several times what SQLite takes to answer it (about 0.3 ms against 0.06 per query
    here); a statement built once keeps its memoized cache key, so each execution is a lookup
    in the engine's compiled cache. ``build(*shape)`` returns the statement for one shape (the
    filters present, a sort, whether a value can match at all), with ``bindparam`` for every
    value. The statement runs on the session's Core connection (no ORM loading: rows carry the
    selected columns' names or labels as attributes), on any dialect. A shape holds only values
    from a small fixed set (flags, enum members, a model): every shape is kept for good."""

    def __init__(self, build: Callable[..., Executable]) -> None:
        self._build = build
        self._built: dict[tuple[Any, ...], Executable] = {}
        self._makers: dict[tuple[str, ...], Callable[[Any], Any]] = {}

    def statement(self, *shape: Any) -> Executable:
        found = self._built.get(shape)
        if found is None:
            found = self._built[shape] = self._build(*shape)
        return found

    def _rows(self, result: Result[Any], rows: Sequence[Any]) -> list[Any]:
        # SQLAlchemy's Row reads an attribute in about 1.2 us (a 13-column row costs 15 us to
        # serialize); a named tuple of the same values reads one in 40 ns
        keys = tuple(result.keys())
        make = self._makers.get(keys)
        if make is None:
            row_type: Any = namedtuple("Row", keys, rename=True)  # type: ignore[misc]
            make = self._makers[keys] = row_type._make
        return [make(row) for row in rows]

    def all(self, session: Session, shape: tuple[Any, ...] = (), /, **params: Any) -> list[Any]:
        """The rows, as named tuples of the selected columns' names (or labels)."""
        result = session.connection().execute(self.statement(*shape), params)
        return self._rows(result, result.all())

    def first(self, session: Session, shape: tuple[Any, ...] = (), /, **params: Any) -> Any:
        """The first row (a named tuple) or None."""
        result = session.connection().execute(self.statement(*shape), params)
        row = result.first()
        return None if row is None else self._rows(result, [row])[0]

    def scalar(self, session: Session, shape: tuple[Any, ...] = (), /, **params: Any) -> Any:
        return session.connection().execute(self.statement(*shape), params).scalar()


_INSERT = Statements(lambda model: insert(inspect(model).local_table))
_INSERT_RETURNING = Statements(
    lambda model: insert(inspect(model).local_table).returning(*columns_of(model))
)


def _before_insert(session: Session, values: dict[str, Any]) -> None:
    """Flush pending ORM changes (rows keep the request's order) and refuse NUL on PostgreSQL."""
    if session.new or session.dirty or session.deleted:
        session.flush()
    if not holds_nul(session):  # as _refuse_nul does for the ORM's writes
        issues = [
            {"path": _camel(name), "code": "custom", "message": NUL_MESSAGE}
            for name, value in values.items()
            if isinstance(value, str) and NUL in value
        ]
        if issues:
            raise validation_error(issues)


def insert_row(session: Session, model: type[Any], **values: Any) -> None:
    """INSERT one row of ``model`` (values by column name, defaults from the table) through
    the session's connection, now: for rows a request writes and never reads back (an audit
    event, an analytics row), where the ORM's unit of work costs several times the INSERT.
    Pending ORM changes are flushed first, so rows land in the order the request made them."""
    _before_insert(session, values)
    session.connection().execute(_INSERT.statement(model), values)


def insert_returning(session: Session, model: type[Any], **values: Any) -> Any:
    """``insert_row``, answering the row as stored (``INSERT ... RETURNING`` every column: its
    id and the defaults the database filled in) as a named tuple of attribute names."""
    _before_insert(session, values)
    return _INSERT_RETURNING.first(session, (model,), **values)


@dataclass(frozen=True)
class Filter:
    """An optional list filter: applied when the query has a (non-empty) value for ``name``,
    compared through a bound parameter of the same name. A ``text`` filter compares text, so
    on PostgreSQL a value holding NUL matches no row (see ``matchable``)."""

    name: str
    condition: Callable[[BindParameter[Any]], ColumnElement[bool]]
    # absent: no value or an empty text (0 is a value: a cursor's id 0 still filters)
    text: bool = False


ABSENT, APPLIED, NO_MATCH = 0, 1, 2


def filter_shape(
    session: Session, filters: Sequence[Filter], query: dict[str, Any]
) -> tuple[tuple[int, ...], dict[str, Any]]:
    """Which of ``filters`` the query applies (``ABSENT``, ``APPLIED``, ``NO_MATCH``) and the
    values to bind: the shape a ``Statements`` builds its statement for."""
    shape: list[int] = []
    params: dict[str, Any] = {}
    for f in filters:
        value = query.get(f.name)
        if value is None or value == "":
            shape.append(ABSENT)
        elif f.text and not matchable(session, value):
            shape.append(NO_MATCH)
        else:
            shape.append(APPLIED)
            params[f.name] = value
    return tuple(shape), params


def filter_conditions(filters: Sequence[Filter], shape: Sequence[int]) -> list[ColumnElement[bool]]:
    """The conditions of ``filters`` in one ``filter_shape`` shape, values as ``bindparam``."""
    out: list[ColumnElement[bool]] = []
    for f, state in zip(filters, shape, strict=True):
        if state == APPLIED:
            out.append(f.condition(bindparam(f.name)))
        elif state == NO_MATCH:
            out.append(false())
    return out


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
