"""The "now" of an analytics request: the caller's ``asOf``, else the end of the UTC day of
the newest case (from the data, at day granularity: both services answer alike even right
after each stamped a new case with its own clock)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.clock import DAY_MS, EPOCH, ms_iso, normalize_iso, parse_ms
from backend.db import Statements
from backend.models import Case

_LATEST = Statements(lambda: select(func.max(Case.created_at)))


def end_of_day(text: str) -> str:
    """The next UTC midnight at or after ``text`` (a midnight stays itself)."""
    return ms_iso(-(-parse_ms(text) // DAY_MS) * DAY_MS)


def resolve_as_of(session: Session, as_of: str | None) -> str:
    if as_of is not None:
        return normalize_iso(as_of)
    latest = _LATEST.scalar(session)
    return end_of_day(latest) if latest else EPOCH
