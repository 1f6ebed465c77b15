from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, and_, bindparam, delete, func, select
from sqlalchemy.orm import Session
from starlette.responses import Response

from backend.clock import now_iso
from backend.db import Filter, Statements, columns_of, filter_conditions, filter_shape
from backend.deps import Caller, CallerDep, SessionDep
from backend.errors import conflict, custom_issue, forbidden
from backend.jsonout import JsonResponse, stringify
from backend.models import Alert, Case
from backend.routers._common import parse_body, parse_id, parse_query, record_event, tally
from backend.schemas import ALERT_COUNT, ALERT_LIST, alert_body
from backend.serialize import alert_json

router = APIRouter()
ALERT_BODY = alert_body()


def find_alert(session: Session, caller: Caller, alert_id: int) -> Alert:
    row: Alert = caller.visible(session.get(Alert, alert_id), "Alert")
    return row


_ALERT_BY_ID = Statements(lambda: select(*columns_of(Alert)).where(Alert.id == bindparam("id")))


def see_alert(session: Session, caller: Caller, alert_id: int) -> Any:
    """The alert as a read-only row (``find_alert`` loads the ORM object a write changes)."""
    return caller.visible(_ALERT_BY_ID.first(session, id=alert_id), "Alert")


def check_case_exists(session: Session, case_id: int | None) -> None:
    if case_id is not None and session.get(Case, case_id) is None:
        raise custom_issue("caseId", "Case not found")


UNIT_FILTER = (Filter("businessUnit", lambda v: Alert.business_unit == v, text=True),)
ALERT_FILTERS = (
    *UNIT_FILTER,
    Filter("severity", lambda v: Alert.severity == v),
    Filter("status", lambda v: Alert.status == v),
)
AlertScope = tuple[bool, tuple[int, ...]]


def alert_scope(
    session: Session, caller: Caller, query: dict[str, Any], filters: tuple[Filter, ...]
) -> tuple[AlertScope, dict[str, Any]]:
    """The shape of the alerts the caller asks for (``alert_where`` builds it) and its values:
    ``ALERT_FILTERS`` for GET /api/alerts (also GET /api/export?resource=alerts),
    ``UNIT_FILTER`` for the counts."""
    shape, params = filter_shape(session, filters, query)
    if not caller.is_admin:
        params["callerUnit"] = caller.user.business_unit
    return (caller.is_admin, shape), params


def alert_where(admin: bool, shape: tuple[int, ...]) -> ColumnElement[bool]:
    filters = ALERT_FILTERS[: len(shape)]
    own = [] if admin else [Alert.business_unit == bindparam("callerUnit")]
    return and_(True, *own, *filter_conditions(filters, shape))


_PAGE = Statements(
    lambda scope: (
        select(*columns_of(Alert))
        .where(alert_where(*scope))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
)
_COUNT = Statements(
    lambda scope: select(func.count()).select_from(Alert).where(alert_where(*scope))
)
_BY_STATE = Statements(
    lambda scope: (
        select(Alert.severity, Alert.status, func.count())
        .where(alert_where(*scope))
        .group_by(Alert.severity, Alert.status)
    )
)


def _metadata(body: dict[str, Any]) -> str | None:
    value = body.get("metadata")
    return None if value is None else stringify(value)


@router.get("/api/alerts")
async def list_alerts(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, ALERT_LIST)
    scope, params = alert_scope(session, caller, query, ALERT_FILTERS)
    limit, offset = query["limit"], query["offset"]
    rows = _PAGE.all(session, (scope,), **params, limit=limit, offset=offset)
    total = _COUNT.scalar(session, (scope,), **params) or 0
    return JsonResponse(
        {
            "data": [alert_json(r) for r in rows],
            "total": total,
            "limit": query["limit"],
            "offset": query["offset"],
        },
        floats=True,
    )


@router.post("/api/alerts")
async def create_alert(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("admin")
    body = await parse_body(request, ALERT_BODY)
    check_case_exists(session, body.get("caseId"))
    unit = body.get("businessUnit") or caller.user.business_unit
    if not caller.is_admin and unit != caller.user.business_unit:
        raise forbidden()
    row = Alert(
        title=body["title"],
        message=body["message"],
        severity=body["severity"],
        business_unit=unit,
        case_id=body.get("caseId"),
        metadata_=_metadata(body),
    )
    session.add(row)
    session.flush()
    record_event(
        session,
        "alert.created",
        "alert",
        row.id,
        caller.user.id,
        alert_json(row),
        row.business_unit,
    )
    session.commit()
    return JsonResponse(alert_json(row), 201, floats=True)


@router.get("/api/alerts/count")
async def count_alerts(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, ALERT_COUNT)
    scope, params = alert_scope(session, caller, query, UNIT_FILTER)
    rows = _BY_STATE.all(session, (scope,), **params)
    by_severity = {"info": 0, "warning": 0, "critical": 0}
    by_status = {"active": 0, "acknowledged": 0, "resolved": 0}
    total = tally(rows, by_severity, by_status)
    return JsonResponse({"total": total, "bySeverity": by_severity, "byStatus": by_status})


@router.get("/api/alerts/{id}")
async def get_alert(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    alert_id = parse_id(id)
    return JsonResponse(alert_json(see_alert(session, caller, alert_id)), floats=True)


@router.put("/api/alerts/{id}")
async def update_alert(
    id: str, request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("admin")
    alert_id = parse_id(id)
    body = await parse_body(request, ALERT_BODY)
    row = find_alert(session, caller, alert_id)
    check_case_exists(session, body.get("caseId"))
    unit = body.get("businessUnit") or caller.user.business_unit
    if not caller.is_admin and unit != caller.user.business_unit:
        raise forbidden()
    row.title = body["title"]
    row.message = body["message"]
    row.severity = body["severity"]
    row.business_unit = unit
    row.case_id = body.get("caseId")
    row.metadata_ = _metadata(body)
    row.updated_at = now_iso()
    session.flush()
    record_event(
        session,
        "alert.updated",
        "alert",
        alert_id,
        caller.user.id,
        alert_json(row),
        row.business_unit,
    )
    session.commit()
    return JsonResponse(alert_json(row), floats=True)


@router.delete("/api/alerts/{id}")
async def delete_alert(id: str, caller: CallerDep, session: SessionDep) -> Response:
    caller.require("admin")
    alert_id = parse_id(id)
    unit = find_alert(session, caller, alert_id).business_unit
    session.execute(delete(Alert).where(Alert.id == alert_id))
    record_event(
        session, "alert.deleted", "alert", alert_id, caller.user.id, {"id": alert_id}, unit
    )
    session.commit()
    return Response(status_code=204)


def _transition(
    session: Session, caller: Caller, row: Alert, kind: str, **changes: Any
) -> JsonResponse:
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    record_event(session, kind, "alert", row.id, caller.user.id, alert_json(row), row.business_unit)
    session.commit()
    return JsonResponse(alert_json(row), floats=True)


@router.post("/api/alerts/{id}/acknowledge")
async def acknowledge_alert(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("agent")
    row = find_alert(session, caller, parse_id(id))
    if row.status != "active":
        raise conflict("Alert is not active")
    now = now_iso()
    return _transition(
        session,
        caller,
        row,
        "alert.acknowledged",
        status="acknowledged",
        acknowledged_by=caller.user.id,
        acknowledged_at=now,
        updated_at=now,
    )


@router.post("/api/alerts/{id}/resolve")
async def resolve_alert(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("admin")
    row = find_alert(session, caller, parse_id(id))
    if row.status == "resolved":
        raise conflict("Alert is already resolved")
    now = now_iso()
    return _transition(
        session, caller, row, "alert.resolved", status="resolved", resolved_at=now, updated_at=now
    )


__all__ = ["router"]
