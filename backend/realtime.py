"""Which events a subscriber may receive, and the messages the realtime channel sends."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.jsonout import dumps
from backend.models import AuthUser, Event
from backend.serialize import event_json


def visible_to(user: AuthUser, event: Event) -> bool:
    """As the legacy's lib/realtime.ts, from the event row alone: admins everything; sessions
    and notifications their own user only; an event of no unit everyone; the rest the unit
    its subject belonged to when written."""
    if user.role == "admin":
        return True
    if event.kind.startswith(("auth.", "notification.")):
        return event.actor_id == user.id
    return event.business_unit is None or event.business_unit == user.business_unit


def latest_event_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(Event.id), 0))) or 0)


def pending_messages(session: Session, user: AuthUser, after: int) -> tuple[list[bytes], int]:
    rows = session.scalars(
        select(Event).where(Event.id > after).order_by(Event.id).limit(500)
    ).all()
    messages = [
        dumps({"type": "event", "event": event_json(r)}, floats=True)
        for r in rows
        if visible_to(user, r)
    ]
    return messages, (rows[-1].id if rows else after)
