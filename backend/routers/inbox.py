"""The caller's notifications (created by assignments and shares)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, func, select

from backend.clock import now_iso
from backend.db import columns_of
from backend.deps import CallerDep, SessionDep
from backend.errors import not_found
from backend.jsonout import JsonResponse
from backend.models import Notification
from backend.routers._common import parse_id, parse_query, record_event
from backend.schemas import INBOX_LIST
from backend.serialize import notification_json

router = APIRouter()


@router.get("/api/inbox")
async def list_inbox(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, INBOX_LIST)
    mine = Notification.user_id == caller.user.id
    filters: list[ColumnElement[bool]] = [mine]
    if query.get("unread") == "true":
        filters.append(Notification.read_at.is_(None))
    if query.get("unread") == "false":
        filters.append(Notification.read_at.is_not(None))
    where = and_(*filters)
    rows = session.execute(
        select(*columns_of(Notification))
        .where(where)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(query["limit"])
        .offset(query["offset"])
    ).all()
    total = session.scalar(select(func.count()).select_from(Notification).where(where)) or 0
    unread = (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(mine, Notification.read_at.is_(None))
        )
        or 0
    )
    return JsonResponse(
        {
            "data": [notification_json(r) for r in rows],
            "total": total,
            "unreadCount": unread,
            "limit": query["limit"],
            "offset": query["offset"],
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
