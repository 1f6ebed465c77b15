"""Messages per case, oldest first."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import bindparam, select

from backend.db import Statements, columns_of
from backend.deps import CallerDep, SessionDep
from backend.errors import conflict
from backend.jsonout import JsonResponse
from backend.models import ChatMessage
from backend.routers._common import parse_body, parse_id, parse_query, record_event
from backend.routers.cases import find_case, see_case
from backend.schemas import CHAT_CREATE, CHAT_LIST
from backend.serialize import chat_json

router = APIRouter()


_PAGE = Statements(
    lambda: (
        select(*columns_of(ChatMessage))
        .where(ChatMessage.case_id == bindparam("case_id"), ChatMessage.id > bindparam("after"))
        .order_by(ChatMessage.id)
        .limit(bindparam("limit"))
    )
)


@router.get("/api/cases/{id}/chat")
async def list_chat(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    case_id = parse_id(id)
    query = parse_query(request, CHAT_LIST)
    see_case(session, caller, case_id)
    rows = _PAGE.all(session, case_id=case_id, after=query["after"], limit=query["limit"])
    return JsonResponse({"data": [chat_json(r) for r in rows]})


@router.post("/api/cases/{id}/chat")
async def post_chat(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("agent")
    case_id = parse_id(id)
    body = await parse_body(request, CHAT_CREATE)
    existing = find_case(session, caller, case_id)
    if existing.status == "closed":
        raise conflict("Case is closed")
    row = ChatMessage(case_id=case_id, user_id=caller.user.id, body=body["body"])
    session.add(row)
    session.flush()
    session.refresh(row)
    record_event(
        session,
        "chat.created",
        "chat_message",
        row.id,
        caller.user.id,
        chat_json(row),
        existing.business_unit,
    )
    session.commit()
    return JsonResponse(chat_json(row), 201)


__all__ = ["router"]
