from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import BindParameter, ColumnElement, and_, bindparam, delete, false, or_, select

from backend.clock import normalize_iso, now_iso
from backend.db import (
    NUL,
    Filter,
    Statements,
    columns_of,
    filter_conditions,
    filter_shape,
    matchable,
)
from backend.deps import CallerDep, SessionDep
from backend.errors import forbidden
from backend.jsonout import JsonResponse
from backend.models import FeedItem
from backend.routers._common import (
    decode_json_cursor,
    encode_json_cursor,
    parse_body,
    parse_query,
    record_event,
)
from backend.schemas import FEED_CREATE, FEED_LIST
from backend.serialize import feed_json
from backend.validation import Int, Obj, Str

router = APIRouter()
_CURSOR = Obj({"p": Int(), "c": Str(), "i": Int()})


def encode_cursor(priority: int, created_at: str, item_id: int) -> str:
    return encode_json_cursor({"p": priority, "c": created_at, "i": item_id})


def decode_cursor(raw: str) -> dict[str, Any]:
    return decode_json_cursor(raw, _CURSOR)


_FILTERS = (
    Filter("kind", lambda v: FeedItem.kind == v),
    Filter("businessUnit", lambda v: FeedItem.business_unit == v, text=True),
)


def _after_cursor(after: str) -> ColumnElement[bool]:
    """Items after the cursor (p, c, i) in the feed's order; ``after`` says whether c can equal
    a stored text at all."""
    p: BindParameter[int] = bindparam("p")
    c: BindParameter[str] = bindparam("c")
    i: BindParameter[int] = bindparam("i")
    if after == "match":
        before = FeedItem.created_at < c
        same: ColumnElement[bool] = FeedItem.created_at == c
    else:
        before, same = FeedItem.created_at <= c, false()
    return or_(
        FeedItem.priority < p,
        and_(FeedItem.priority == p, before),
        and_(FeedItem.priority == p, same, FeedItem.id < i),
    )


def _feed_where(admin: bool, shape: tuple[int, ...], after: str | None) -> ColumnElement[bool]:
    filters: list[ColumnElement[bool]] = [
        or_(FeedItem.expires_at.is_(None), FeedItem.expires_at > bindparam("now"))
    ]
    if not admin:
        filters.append(
            or_(FeedItem.business_unit.is_(None), FeedItem.business_unit == bindparam("unit"))
        )
    filters += filter_conditions(_FILTERS, shape)
    if after is not None:
        filters.append(_after_cursor(after))
    return and_(*filters)


_PAGE = Statements(
    lambda admin, shape, after: (
        select(*columns_of(FeedItem))
        .where(_feed_where(admin, shape, after))
        .order_by(FeedItem.priority.desc(), FeedItem.created_at.desc(), FeedItem.id.desc())
        .limit(bindparam("limit"))
    )
)


@router.get("/api/feed")
async def list_feed(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, FEED_LIST)
    cursor = decode_cursor(query["cursor"]) if "cursor" in query else None
    shape, params = filter_shape(session, _FILTERS, query)
    params.update(now=now_iso(), unit=caller.user.business_unit, limit=query["limit"] + 1)
    after: str | None = None
    if cursor is not None:
        p, c, i = cursor["p"], cursor["c"], cursor["i"]
        after = "match" if matchable(session, c) else "no-match"
        # no PostgreSQL text holds a NUL: in binary order, a stored text is below c exactly
        # when it is at or below c's part before its first NUL, and none equals c
        params.update(p=p, c=c if after == "match" else c.split(NUL, 1)[0], i=i)
    limit: int = query["limit"]
    rows = _PAGE.all(session, (caller.is_admin, shape, after), **params)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit and page:
        last = page[-1]
        next_cursor = encode_cursor(last.priority, last.created_at, last.id)
    return JsonResponse({"data": [feed_json(r) for r in page], "nextCursor": next_cursor})


@router.post("/api/feed")
async def create_feed_item(
    request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("agent")
    body = await parse_body(request, FEED_CREATE)
    unit = body.get("businessUnit", caller.user.business_unit)
    if not caller.is_admin and unit != caller.user.business_unit:
        raise forbidden()
    expires = body.get("expiresAt")
    row = FeedItem(
        kind=body["kind"],
        title=body["title"],
        body=body["body"],
        priority=body["priority"],
        business_unit=unit,
        expires_at=normalize_iso(expires) if expires else None,
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        "feed.created",
        "feed_item",
        row.id,
        caller.user.id,
        feed_json(row),
        row.business_unit,
    )
    session.commit()
    return JsonResponse(feed_json(row), 201)


@router.post("/api/feed/cleanup")
async def cleanup_feed(caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("admin")
    result = session.execute(delete(FeedItem).where(FeedItem.expires_at <= now_iso()))
    deleted = int(getattr(result, "rowcount", 0) or 0)
    record_event(
        session, "feed.cleanup", "feed_item", None, caller.user.id, {"deleted": deleted}, None
    )
    session.commit()
    return JsonResponse({"deleted": deleted})


__all__ = ["router"]
