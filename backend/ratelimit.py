"""Fixed-window rate limits (legacy/lib/ratelimit.ts), counted in the database (table
``rate_limits``) so every process on the same database shares them. A window is aligned to the
clock: it starts at ``floor(now / window) * window`` (epoch seconds), never at a process's start
or at a first request. Limits come from the environment, read per request as the legacy reads
``process.env``: ``LOGIN_RATE_LIMIT`` / ``LOGIN_RATE_LIMIT_WINDOW_S`` and ``WEBHOOK_RATE_LIMIT``
/ ``WEBHOOK_RATE_LIMIT_WINDOW_S`` (window default 60 s); a limit of 0 (or none) is off."""

from __future__ import annotations

import hashlib
import math
import os
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.errors import ApiError
from backend.jsbehaviour import to_lower_case

__all__ = ["Limit", "hit", "login_key", "login_limit", "webhook_key", "webhook_limit"]


@dataclass(frozen=True)
class Limit:
    limit: int
    window_s: int


def _int_env(name: str, fallback: int) -> int:
    """``Number(raw)`` when it is a non-negative integer, else the fallback (as the legacy)."""
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return fallback
    try:
        value = float(raw.strip())
    except ValueError:
        return fallback
    return int(value) if value.is_integer() and value >= 0 else fallback


def login_limit() -> Limit:
    return Limit(_int_env("LOGIN_RATE_LIMIT", 0), max(1, _int_env("LOGIN_RATE_LIMIT_WINDOW_S", 60)))


def webhook_limit() -> Limit:
    return Limit(
        _int_env("WEBHOOK_RATE_LIMIT", 0), max(1, _int_env("WEBHOOK_RATE_LIMIT_WINDOW_S", 60))
    )


def login_key(email: str) -> str:
    """Per account: the email as the login looks it up (case-insensitive)."""
    return f"login:{to_lower_case(email)}"


def webhook_key(secret: str) -> str:
    """Per signing key: a hash of it, never the secret itself."""
    return f"webhook:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


def window_start(now_ms: float, window_s: int) -> int:
    """The start (epoch seconds) of the clock-aligned window holding ``now_ms``."""
    return math.floor(now_ms / 1000 / window_s) * window_s


_DELETE = text('DELETE FROM rate_limits WHERE "key" = :key AND window_start < :start')
_UPSERT = text(
    'INSERT INTO rate_limits ("key", window_start, count) VALUES (:key, :start, 1) '
    'ON CONFLICT ("key", window_start) DO UPDATE SET count = rate_limits.count + 1 '
    "RETURNING count"
)


def hit(session: Session, key: str, limit: Limit, now_ms: float | None = None) -> None:
    """Counts one request for ``key`` (committed at once); past the limit, 429 rate_limited
    with ``Retry-After``: the whole seconds (rounded up, at least 1) until the window ends."""
    if limit.limit <= 0:
        return
    moment = time.time() * 1000 if now_ms is None else now_ms
    start = window_start(moment, limit.window_s)
    session.execute(_DELETE, {"key": key, "start": start})
    count = int(session.execute(_UPSERT, {"key": key, "start": start}).scalar_one())
    session.commit()
    if count > limit.limit:
        retry = max(1, math.ceil(((start + limit.window_s) * 1000 - moment) / 1000))
        raise ApiError(
            "rate_limited",
            "Too many requests, retry later",
            headers={"retry-after": str(retry)},
        )
