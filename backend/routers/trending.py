"""Trending topics: the stored computation, one topic with its samples, and the recompute."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import bindparam, select

from backend.asof import resolve_as_of
from backend.compat import ENCODED_SLASH
from backend.db import Statements, columns_of
from backend.deps import CallerDep, SessionDep
from backend.errors import not_found
from backend.jsonout import JsonResponse
from backend.models import Case, TrendingTopic
from backend.routers._common import parse_body, parse_query, record_event
from backend.schemas import TRENDING_COMPUTE, TRENDING_LIST
from backend.serialize import case_json, trending_json
from backend.trending import compute_topics, store_topics

router = APIRouter()
_ORDER = (TrendingTopic.score.desc(), TrendingTopic.topic.asc())
_TOP = Statements(
    lambda: select(*columns_of(TrendingTopic)).order_by(*_ORDER).limit(bindparam("limit"))
)
_TOPIC = Statements(
    lambda: select(*columns_of(TrendingTopic)).where(TrendingTopic.topic == bindparam("topic"))
)
_CASES = Statements(
    lambda: select(*columns_of(Case)).where(Case.id.in_(bindparam("ids", expanding=True)))
)


@router.get("/api/trending")
async def list_trending(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    del caller
    query = parse_query(request, TRENDING_LIST)
    rows = _TOP.all(session, limit=query["limit"])
    return JsonResponse({"data": [trending_json(r) for r in rows]}, floats=True)


@router.post("/api/trending/compute")
async def compute_trending(
    request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("admin")
    body = await parse_body(request, TRENDING_COMPUTE)
    as_of = resolve_as_of(session, body.get("asOf"))
    days: int = body["days"]
    topics = compute_topics(session, as_of, days)
    store_topics(session, topics, as_of)
    payload = {"asOf": as_of, "days": days, "topics": len(topics)}
    record_event(session, "trending.computed", "trending", None, caller.user.id, payload, None)
    session.flush()
    rows = session.scalars(select(TrendingTopic).order_by(*_ORDER)).all()
    out = {"asOf": as_of, "days": days, "data": [trending_json(r) for r in rows]}
    session.commit()
    return JsonResponse(out, floats=True)


@router.get("/api/trending/{topic}")
async def get_trending(topic: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    topic = topic.replace(ENCODED_SLASH, "/")
    row = _TOPIC.first(session, topic=topic)
    if row is None:
        raise not_found("Topic")
    out = trending_json(row)
    ids: list[int] = out["sampleCaseIds"]
    found = {c.id: c for c in _CASES.all(session, ids=ids)} if ids else {}
    samples = [found[i] for i in ids if i in found and caller.can_see(found[i].business_unit)]
    out["samples"] = [case_json(c) for c in samples]
    return JsonResponse(out, floats=True)


__all__ = ["router"]
