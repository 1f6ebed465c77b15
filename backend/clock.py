"""JavaScript-style timestamps: ``new Date().toISOString()``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from backend.jsbehaviour import iso_string_normalize, to_iso_string

iso = to_iso_string
"""``Date.prototype.toISOString()`` (``backend.jsbehaviour.to_iso_string``)."""
normalize_iso = iso_string_normalize
"""``new Date(text).toISOString()`` (``backend.jsbehaviour.iso_string_normalize``)."""


def now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    return iso(now())


def days_from_now(days: float) -> str:
    return iso(now() + timedelta(days=days))
