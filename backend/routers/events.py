"""The audit trail: every write's events row, newest first (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, select

from backend.clock import normalize_iso
from backend.db import columns_of
from backend.deps import CallerDep, SessionDep
from backend.jsonout import JsonResponse
from backend.models import Event
from backend.routers._common import decode_json_cursor, encode_json_cursor, parse_query
from backend.schemas import EVENT_CURSOR, EVENT_LIST
from backend.serialize import event_json

router = APIRouter()


@router.get("/api/events")
async def list_events(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("admin")
    query = parse_query(request, EVENT_LIST)
    before = decode_json_cursor(query["cursor"], EVENT_CURSOR)["i"] if "cursor" in query else None
    filters: list[ColumnElement[bool]] = []
    if query.get("kind"):
        filters.append(Event.kind == query["kind"])
    if query.get("subjectType"):
        filters.append(Event.subject_type == query["subjectType"])
    if query.get("subjectId"):
        filters.append(Event.subject_id == query["subjectId"])
    if query.get("since"):
        filters.append(Event.created_at >= normalize_iso(query["since"]))
    if query.get("until"):
        filters.append(Event.created_at < normalize_iso(query["until"]))
    if before is not None:
        filters.append(Event.id < before)
    limit: int = query["limit"]
    rows = session.execute(
        select(*columns_of(Event))
        .where(and_(True, *filters))
        .order_by(Event.id.desc())
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    next_cursor = encode_json_cursor({"i": page[-1].id}) if len(rows) > limit and page else None
    return JsonResponse(
        {"data": [event_json(r) for r in page], "nextCursor": next_cursor}, floats=True
    )


__all__ = ["router"]
