"""The audit trail: every write's events row, newest first (admin only)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import and_, bindparam, select

from backend.clock import normalize_iso
from backend.db import Filter, Statements, columns_of, filter_conditions, filter_shape
from backend.deps import CallerDep, SessionDep
from backend.jsonout import JsonResponse
from backend.models import Event
from backend.routers._common import decode_json_cursor, encode_json_cursor, parse_query
from backend.schemas import EVENT_CURSOR, EVENT_LIST
from backend.serialize import event_json

router = APIRouter()
_FILTERS = (
    Filter("kind", lambda v: Event.kind == v),
    Filter("subjectType", lambda v: Event.subject_type == v),
    Filter("subjectId", lambda v: Event.subject_id == v),
    Filter("since", lambda v: Event.created_at >= v),
    Filter("until", lambda v: Event.created_at < v),
    Filter("before", lambda v: Event.id < v),
)
_PAGE = Statements(
    lambda shape: (
        select(*columns_of(Event))
        .where(and_(True, *filter_conditions(_FILTERS, shape)))
        .order_by(Event.id.desc())
        .limit(bindparam("limit"))
    )
)


@router.get("/api/events")
async def list_events(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("admin")
    query = parse_query(request, EVENT_LIST)
    before = decode_json_cursor(query["cursor"], EVENT_CURSOR)["i"] if "cursor" in query else None
    values = {
        **query,
        "since": normalize_iso(query["since"]) if query.get("since") else None,
        "until": normalize_iso(query["until"]) if query.get("until") else None,
        "before": before,
    }
    shape, params = filter_shape(session, _FILTERS, values)
    limit: int = query["limit"]
    rows = _PAGE.all(session, (shape,), **params, limit=limit + 1)
    page = rows[:limit]
    next_cursor = encode_json_cursor({"i": page[-1].id}) if len(rows) > limit and page else None
    return JsonResponse(
        {"data": [event_json(r) for r in page], "nextCursor": next_cursor}, floats=True
    )


__all__ = ["router"]
