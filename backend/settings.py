"""Settings from the environment, cached; tests override ``get_settings``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    database_path: str
    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 1


@lru_cache
def get_settings() -> Settings:
    path = os.environ.get("DATABASE_PATH")
    if not path:
        raise RuntimeError("DATABASE_PATH is not set")
    return Settings(
        database_path=path,
        port=int(os.environ.get("PORT", "8000")),
        # one worker per core (2 on these machines): the legacy's Node process is single, but
        # a Python worker needs a core of its own to keep up (parity bench measures it)
        workers=int(os.environ.get("WEB_CONCURRENCY", str(min(2, os.cpu_count() or 1)))),
    )
