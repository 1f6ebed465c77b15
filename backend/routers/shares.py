"""Escalations: a case shared with another user, who is notified."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import bindparam, func, select

from backend.db import Statements, columns_of, where_text
from backend.deps import CallerDep, SessionDep
from backend.errors import custom_issue
from backend.jsonout import JsonResponse
from backend.models import Share, User
from backend.notifications import notify
from backend.routers._common import parse_body, parse_id, record_event
from backend.routers.cases import find_case, see_case
from backend.schemas import SHARE_CREATE
from backend.serialize import share_json

router = APIRouter()


@router.post("/api/shares")
async def create_share(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("agent")
    body = await parse_body(request, SHARE_CREATE)
    shared = find_case(session, caller, body["caseId"])
    recipient = session.scalars(
        select(User).where(
            where_text(
                session,
                func.lower(User.email) == func.lower(body["sharedWith"]),
                body["sharedWith"],
            )
        )
    ).first()
    if recipient is None:
        raise custom_issue("sharedWith", "Unknown recipient")
    if recipient.id == caller.user.id:
        raise custom_issue("sharedWith", "Cannot share with yourself")
    if recipient.role != "admin" and recipient.business_unit != shared.business_unit:
        raise custom_issue("sharedWith", "Recipient cannot see this case")
    row = Share(
        case_id=shared.id,
        shared_with=recipient.email,
        note=body.get("note"),
        created_by=caller.user.id,
    )
    session.add(row)
    session.flush()
    notify(
        session,
        recipient.id,
        "share",
        shared.id,
        caller.user.id,
        f"{caller.user.name} shared case #{shared.id}: {shared.title}",
    )
    session.flush()
    record_event(
        session,
        "share.created",
        "share",
        row.id,
        caller.user.id,
        share_json(row),
        shared.business_unit,
    )
    session.commit()
    return JsonResponse(share_json(row), 201)


_OF_CASE = Statements(
    lambda: (
        select(*columns_of(Share)).where(Share.case_id == bindparam("case_id")).order_by(Share.id)
    )
)


@router.get("/api/cases/{id}/shares")
async def list_case_shares(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    case_id = parse_id(id)
    see_case(session, caller, case_id)
    rows = _OF_CASE.all(session, case_id=case_id)
    return JsonResponse({"data": [share_json(r) for r in rows]})


__all__ = ["router"]
