from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, case, delete, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from backend.clock import now_iso
from backend.db import columns_of, where_text
from backend.deps import Caller, CallerDep, SessionDep
from backend.errors import conflict, custom_issue, forbidden, not_found
from backend.jsonout import JsonResponse, stringify
from backend.models import Case, User
from backend.notifications import notify
from backend.routers._common import parse_body, parse_id, parse_query, record_event
from backend.schemas import CASE_ASSIGN, CASE_CREATE, CASE_LIST, CASE_PATCH
from backend.serialize import case_json

router = APIRouter()

PRIORITY_RANK = case(
    (Case.priority == "low", 0),
    (Case.priority == "medium", 1),
    (Case.priority == "high", 2),
    else_=3,
)
SORT_COLUMNS: dict[str, Any] = {
    "createdAt": Case.created_at,
    "updatedAt": Case.updated_at,
    "priority": PRIORITY_RANK,
    "title": Case.title,
}
FIELD_COLUMNS = {
    "title": "title",
    "description": "description",
    "channel": "channel",
    "status": "status",
    "category": "category",
    "priority": "priority",
    "businessUnit": "business_unit",
    "customerName": "customer_name",
    "assigneeId": "assignee_id",
}


def find_case(session: Session, caller: Caller, case_id: int) -> Case:
    row = session.get(Case, case_id)
    if row is None or not caller.can_see(row.business_unit):
        raise not_found("Case")
    return row


def check_assignee(session: Session, assignee_id: int | None, unit: str) -> None:
    """An assignee must be a non-viewer user of the case's business unit."""
    if assignee_id is None:
        return
    found = session.scalar(
        select(User.id).where(
            User.id == assignee_id, User.business_unit == unit, User.role != "viewer"
        )
    )
    if found is None:
        raise custom_issue("assigneeId", "Invalid assignee")


def case_where(session: Session, caller: Caller, query: dict[str, Any]) -> ColumnElement[bool]:
    """The list filters of GET /api/cases (also GET /api/export?resource=cases)."""
    filters: list[ColumnElement[bool]] = []
    if not caller.is_admin:
        filters.append(Case.business_unit == caller.user.business_unit)
    if query.get("channel"):
        filters.append(Case.channel == query["channel"])
    if query.get("status"):
        filters.append(Case.status == query["status"])
    if query.get("category"):
        category = query["category"]
        filters.append(
            where_text(session, func.lower(Case.category) == func.lower(category), category)
        )
    if query.get("businessUnit"):
        unit = query["businessUnit"]
        filters.append(where_text(session, Case.business_unit == unit, unit))
    if query.get("assigneeId"):
        filters.append(Case.assignee_id == query["assigneeId"])
    return and_(True, *filters)


def case_order(sort: str) -> tuple[Any, Any]:
    column = SORT_COLUMNS[sort.lstrip("-")]
    if sort.startswith("-"):
        return column.desc(), Case.id.desc()
    return column.asc(), Case.id.asc()


@router.get("/api/cases")
async def list_cases(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, CASE_LIST)
    where = case_where(session, caller, query)
    order = case_order(query["sort"])
    page, size = query["page"], query["pageSize"]
    rows = session.execute(
        select(*columns_of(Case))
        .where(where)
        .order_by(*order)
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    total = session.scalar(select(func.count()).select_from(Case).where(where)) or 0
    return JsonResponse(
        {
            "data": [case_json(r) for r in rows],
            "pagination": {
                "page": page,
                "pageSize": size,
                "total": total,
                "totalPages": math.ceil(total / size),
            },
        },
        floats=True,
    )


@router.post("/api/cases")
async def create_case(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("agent")
    body = await parse_body(request, CASE_CREATE)
    unit = body.get("businessUnit") or caller.user.business_unit
    if not caller.is_admin and unit != caller.user.business_unit:
        raise forbidden()
    check_assignee(session, body.get("assigneeId"), unit)
    metadata = body.get("metadata")
    row = Case(
        title=body["title"],
        description=body["description"],
        channel=body["channel"],
        status=body["status"],
        category=body["category"],
        priority=body["priority"],
        business_unit=unit,
        customer_name=body["customerName"],
        assignee_id=body.get("assigneeId"),
        metadata_=None if metadata is None else stringify(metadata),
    )
    session.add(row)
    session.flush()
    record_event(
        session, "case.created", "case", row.id, caller.user.id, case_json(row), row.business_unit
    )
    session.commit()
    return JsonResponse(case_json(row), 201, floats=True)


@router.get("/api/cases/{id}")
async def get_case(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    return JsonResponse(case_json(find_case(session, caller, parse_id(id))), floats=True)


@router.patch("/api/cases/{id}")
async def update_case(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("agent")
    case_id = parse_id(id)
    body = await parse_body(request, CASE_PATCH)
    row = find_case(session, caller, case_id)
    if row.status == "closed" and not (len(body) == 1 and body.get("status") == "open"):
        raise conflict("Case is closed")
    moving = "businessUnit" in body and body["businessUnit"] != caller.user.business_unit
    if moving and not caller.is_admin:
        raise forbidden()
    unit = body.get("businessUnit") or row.business_unit
    if "assigneeId" in body:
        check_assignee(session, body["assigneeId"], unit)
    for name, column in FIELD_COLUMNS.items():
        if name in body:
            setattr(row, column, body[name])
    if "metadata" in body:
        row.metadata_ = None if body["metadata"] is None else stringify(body["metadata"])
    row.updated_at = now_iso()
    session.flush()
    record_event(
        session, "case.updated", "case", case_id, caller.user.id, case_json(row), row.business_unit
    )
    session.commit()
    return JsonResponse(case_json(row), floats=True)


@router.delete("/api/cases/{id}")
async def delete_case(id: str, caller: CallerDep, session: SessionDep) -> Response:
    caller.require("admin")
    case_id = parse_id(id)
    unit = find_case(session, caller, case_id).business_unit
    session.execute(delete(Case).where(Case.id == case_id))
    record_event(
        session,
        "case.deleted",
        "case",
        case_id,
        caller.user.id,
        {"id": case_id},
        unit,
    )
    session.commit()
    return Response(status_code=204)


@router.post("/api/cases/{id}/assign")
async def assign_case(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("agent")
    case_id = parse_id(id)
    body = await parse_body(request, CASE_ASSIGN)
    row = find_case(session, caller, case_id)
    check_assignee(session, body["assigneeId"], row.business_unit)
    if row.status == "closed":
        raise conflict("Case is closed")
    assignee = body["assigneeId"]
    if assignee is not None and assignee not in (row.assignee_id, caller.user.id):
        notify(
            session,
            assignee,
            "assignment",
            case_id,
            caller.user.id,
            f"{caller.user.name} assigned you case #{case_id}: {row.title}",
        )
    if assignee is not None and row.status == "open":
        row.status = "in_progress"
    row.assignee_id = assignee
    row.updated_at = now_iso()
    session.flush()
    record_event(
        session, "case.assigned", "case", case_id, caller.user.id, case_json(row), row.business_unit
    )
    session.commit()
    return JsonResponse(case_json(row), floats=True)
