"""One engine per process: the legacy's SQLite file (WAL, busy timeout, foreign keys), or a
PostgreSQL database when ``DATABASE_URL`` names one (same models, loaded by ``backend.pgload``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

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


@lru_cache
def _sessionmaker() -> sessionmaker[Session]:
    return sessionmaker(bind=get_engine(), expire_on_commit=False, autoflush=False)


def open_session() -> Session:
    """A session outside a request (the realtime channel opens one per poll: a fresh read)."""
    return _sessionmaker()()


async def get_session() -> AsyncIterator[Session]:
    """A plain (blocking) session used inside async handlers: SQLite answers in well under a
    millisecond, so running it on the event loop beats a thread-pool hop per request."""
    with _sessionmaker()() as session:
        yield session
