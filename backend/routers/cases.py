from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, bindparam, case, delete, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from backend.clock import now_iso
from backend.db import (
    Filter,
    Statements,
    columns_of,
    filter_conditions,
    filter_shape,
    insert_returning,
    matchable,
)
from backend.deps import Caller, CallerDep, SessionDep
from backend.errors import conflict, custom_issue, forbidden
from backend.jsonout import JsonResponse, stringify
from backend.models import Case, User
from backend.notifications import notify
from backend.routers._common import (
    minimal,
    parse_body,
    parse_id,
    parse_query,
    prefers_minimal,
    record_event,
)
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
    row: Case = caller.visible(session.get(Case, case_id), "Case")
    return row


_CASE_BY_ID = Statements(lambda: select(*columns_of(Case)).where(Case.id == bindparam("id")))


def see_case(session: Session, caller: Caller, case_id: int) -> Any:
    """The case as a read-only row (``find_case`` loads the ORM object a write changes)."""
    return caller.visible(_CASE_BY_ID.first(session, id=case_id), "Case")


_ASSIGNABLE = Statements(
    lambda: select(User.id).where(
        User.id == bindparam("id"), User.business_unit == bindparam("unit"), User.role != "viewer"
    )
)


def check_assignee(session: Session, assignee_id: int | None, unit: str) -> None:
    """An assignee must be a non-viewer user of the case's business unit."""
    if assignee_id is None:
        return
    # a unit PostgreSQL cannot hold (NUL) names no user: the same answer as the legacy's
    found = (
        _ASSIGNABLE.scalar(session, id=assignee_id, unit=unit) if matchable(session, unit) else None
    )
    if found is None:
        raise custom_issue("assigneeId", "Invalid assignee")


CASE_FILTERS = (
    Filter("channel", lambda v: Case.channel == v),
    Filter("status", lambda v: Case.status == v),
    Filter("category", lambda v: func.lower(Case.category) == func.lower(v), text=True),
    Filter("businessUnit", lambda v: Case.business_unit == v, text=True),
    Filter("assigneeId", lambda v: Case.assignee_id == v),
    # only the list's query has it (the export's schema does not take it)
    Filter("priority", lambda v: Case.priority == v),
)
CaseScope = tuple[bool, tuple[int, ...]]


def case_scope(
    session: Session, caller: Caller, query: dict[str, Any]
) -> tuple[CaseScope, dict[str, Any]]:
    """The list filters of GET /api/cases (also GET /api/export?resource=cases): their shape
    (``case_where`` builds it) and the values it binds."""
    shape, params = filter_shape(session, CASE_FILTERS, query)
    if not caller.is_admin:
        params["callerUnit"] = caller.user.business_unit
    return (caller.is_admin, shape), params


def case_where(admin: bool, shape: tuple[int, ...]) -> ColumnElement[bool]:
    own = [] if admin else [Case.business_unit == bindparam("callerUnit")]
    return and_(True, *own, *filter_conditions(CASE_FILTERS, shape))


def case_order(sort: str) -> tuple[Any, Any]:
    column = SORT_COLUMNS[sort.lstrip("-")]
    if sort.startswith("-"):
        return column.desc(), Case.id.desc()
    return column.asc(), Case.id.asc()


_PAGE = Statements(
    lambda scope, sort: (
        select(*columns_of(Case))
        .where(case_where(*scope))
        .order_by(*case_order(sort))
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
)
_COUNT = Statements(lambda scope: select(func.count()).select_from(Case).where(case_where(*scope)))


@router.get("/api/cases")
async def list_cases(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, CASE_LIST)
    scope, params = case_scope(session, caller, query)
    page, size = query["page"], query["pageSize"]
    rows = _PAGE.all(
        session, (scope, query["sort"]), **params, limit=size, offset=(page - 1) * size
    )
    total = _COUNT.scalar(session, (scope,), **params) or 0
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
async def create_case(request: Request, caller: CallerDep, session: SessionDep) -> Response:
    caller.require("agent")
    body = await parse_body(request, CASE_CREATE)
    unit = body.get("businessUnit") or caller.user.business_unit
    if not caller.is_admin and unit != caller.user.business_unit:
        raise forbidden()
    check_assignee(session, body.get("assigneeId"), unit)
    metadata = body.get("metadata")
    row = insert_returning(
        session,
        Case,
        title=body["title"],
        description=body["description"],
        channel=body["channel"],
        status=body["status"],
        category=body["category"],
        priority=body["priority"],
        business_unit=unit,
        customer_name=body["customerName"],
        assignee_id=body.get("assigneeId"),
        metadata=None if metadata is None else stringify(metadata),
    )
    payload = case_json(row)
    record_event(session, "case.created", "case", row.id, caller.user.id, payload, unit)
    session.commit()
    if prefers_minimal(request):
        return minimal()
    return JsonResponse(payload, 201, floats=True)


@router.get("/api/cases/{id}")
async def get_case(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    return JsonResponse(case_json(see_case(session, caller, parse_id(id))), floats=True)


@router.patch("/api/cases/{id}")
async def update_case(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> Response:
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
    if prefers_minimal(request):
        return minimal()
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
