"""The "now" of an analytics request: the caller's ``asOf``, else the newest case's createdAt."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.clock import EPOCH, normalize_iso
from backend.models import Case


def resolve_as_of(session: Session, as_of: str | None) -> str:
    if as_of is not None:
        return normalize_iso(as_of)
    latest = session.scalar(select(func.max(Case.created_at)))
    return latest if latest is not None else EPOCH
