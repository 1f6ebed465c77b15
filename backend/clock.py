"""JavaScript-style timestamps: ``new Date().toISOString()``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    return iso(now())


def days_from_now(days: float) -> str:
    return iso(now() + timedelta(days=days))


def normalize_iso(text: str) -> str:
    """``new Date(text).toISOString()`` for a validated ``z.iso.datetime()`` string.

    Done on the text: the input is already UTC with seconds, so only the fraction changes
    (cut or padded to milliseconds); years JavaScript accepts and Python's datetime does
    not (0000) stay intact.
    """
    body = text[:-1]
    head, _, fraction = body.partition(".")
    return f"{head}.{(fraction + '000')[:3]}Z"
