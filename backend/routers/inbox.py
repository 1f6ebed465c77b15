"""The caller's notifications (created by assignments and shares)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, bindparam, func, select

from backend.clock import now_iso
from backend.db import Statements, columns_of
from backend.deps import CallerDep, SessionDep
from backend.errors import not_found
from backend.jsonout import JsonResponse
from backend.models import Notification
from backend.routers._common import parse_id, parse_query, record_event
from backend.schemas import INBOX_LIST
from backend.serialize import notification_json

router = APIRouter()


def _inbox_where(unread: str | None) -> ColumnElement[bool]:
    """The caller's notifications, all or only the unread (``"true"``) or read (``"false"``)."""
    filters: list[ColumnElement[bool]] = [Notification.user_id == bindparam("user_id")]
    if unread == "true":
        filters.append(Notification.read_at.is_(None))
    if unread == "false":
        filters.append(Notification.read_at.is_not(None))
    return and_(*filters)


_PAGE = Statements(
    lambda unread: (
        select(*columns_of(Notification))
        .where(_inbox_where(unread))
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
)
_COUNT = Statements(
    lambda unread: select(func.count()).select_from(Notification).where(_inbox_where(unread))
)


@router.get("/api/inbox")
async def list_inbox(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, INBOX_LIST)
    unread, user_id = query.get("unread"), caller.user.id
    limit, offset = query["limit"], query["offset"]
    rows = _PAGE.all(session, (unread,), user_id=user_id, limit=limit, offset=offset)
    total = _COUNT.scalar(session, (unread,), user_id=user_id) or 0
    unread_count = _COUNT.scalar(session, ("true",), user_id=user_id) or 0
    return JsonResponse(
        {
            "data": [notification_json(r) for r in rows],
            "total": total,
            "unreadCount": unread_count,
            "limit": limit,
            "offset": offset,
        }
    )


@router.post("/api/inbox/{id}/read")
async def read_notification(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    notification_id = parse_id(id)
    row = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == caller.user.id
        )
    )
    if row is None:
        raise not_found("Notification")
    if row.read_at is None:
        row.read_at = now_iso()
    session.flush()
    payload = notification_json(row)
    record_event(
        session, "notification.read", "notification", notification_id, caller.user.id, payload, None
    )
    session.commit()
    return JsonResponse(payload)


__all__ = ["router"]
