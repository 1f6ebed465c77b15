"""Settings from the environment, cached; tests override ``get_settings``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    database_path: str  # a SQLite file; "" when DATABASE_URL names another engine
    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 1
    database_url: str = ""  # DATABASE_URL: postgresql://... (or sqlite:///path)

    @property
    def url(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL when set, else the SQLite file."""
        return self.database_url or f"sqlite+pysqlite:///{self.database_path}"


@lru_cache
def get_settings() -> Settings:
    url = os.environ.get("DATABASE_URL", "")
    path = os.environ.get("DATABASE_PATH", "")
    if not path and not url:
        raise RuntimeError("neither DATABASE_PATH nor DATABASE_URL is set")
    return Settings(
        database_path=path,
        database_url=url,
        port=int(os.environ.get("PORT", "8000")),
        # one worker per core (2 on these machines): the legacy's Node process is single, but
        # a Python worker needs a core of its own to keep up (parity bench measures it)
        workers=int(os.environ.get("WEB_CONCURRENCY", str(min(2, os.cpu_count() or 1)))),
    )
