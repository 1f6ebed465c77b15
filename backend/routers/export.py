"""Cases or alerts in the caller's scope as CSV (RFC 4180, header row) or a JSON array, streamed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import StreamingResponse

from backend.deps import CallerDep, SessionDep
from backend.jsonout import dumps
from backend.models import Alert, Case
from backend.routers._common import parse_query
from backend.routers.alerts import alert_where
from backend.routers.cases import case_order, case_where
from backend.schemas import EXPORT, EXPORT_ALERTS, EXPORT_CASES
from backend.serialize import alert_json, case_json

router = APIRouter()
Row = TypeVar("Row")
Cell = str | int | None

CASE_COLUMNS = (
    "id",
    "title",
    "description",
    "channel",
    "status",
    "category",
    "priority",
    "businessUnit",
    "customerName",
    "assigneeId",
    "metadata",
    "createdAt",
    "updatedAt",
)
ALERT_COLUMNS = (
    "id",
    "title",
    "message",
    "severity",
    "status",
    "businessUnit",
    "caseId",
    "acknowledgedBy",
    "acknowledgedAt",
    "resolvedAt",
    "metadata",
    "createdAt",
    "updatedAt",
)
_NEEDS_QUOTES = re.compile(r'[",\r\n]')


def csv_field(value: Cell) -> str:
    if value is None:
        return ""
    text = str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES.search(text) else text


def csv_record(values: Iterable[Cell]) -> str:
    return ",".join(csv_field(v) for v in values) + "\r\n"


def _case_cells(r: Case) -> list[Cell]:
    return [
        r.id,
        r.title,
        r.description,
        r.channel,
        r.status,
        r.category,
        r.priority,
        r.business_unit,
        r.customer_name,
        r.assignee_id,
        r.metadata_,
        r.created_at,
        r.updated_at,
    ]


def _alert_cells(r: Alert) -> list[Cell]:
    return [
        r.id,
        r.title,
        r.message,
        r.severity,
        r.status,
        r.business_unit,
        r.case_id,
        r.acknowledged_by,
        r.acknowledged_at,
        r.resolved_at,
        r.metadata_,
        r.created_at,
        r.updated_at,
    ]


def _csv_chunks(
    columns: Sequence[str], rows: Sequence[Row], cells: Callable[[Row], list[Cell]]
) -> Iterator[bytes]:
    yield csv_record(columns).encode()
    for row in rows:
        yield csv_record(cells(row)).encode()


def _json_chunks(rows: Sequence[Row], to_json: Callable[[Row], dict[str, Any]]) -> Iterator[bytes]:
    yield b"["
    for index, row in enumerate(rows):
        yield (b"," if index else b"") + dumps(to_json(row), floats=True)
    yield b"]"


@router.get("/api/export")
async def export(request: Request, caller: CallerDep, session: SessionDep) -> StreamingResponse:
    base = parse_query(request, EXPORT)
    resource, fmt = base["resource"], base["format"]
    chunks: Iterator[bytes]
    # rows are read before streaming starts: the session closes with the request
    if resource == "cases":
        query = parse_query(request, EXPORT_CASES)
        cases = session.scalars(
            select(Case).where(case_where(caller, query)).order_by(*case_order(query["sort"]))
        ).all()
        chunks = (
            _csv_chunks(CASE_COLUMNS, cases, _case_cells)
            if fmt == "csv"
            else _json_chunks(cases, case_json)
        )
    else:
        query = parse_query(request, EXPORT_ALERTS)
        alerts = session.scalars(
            select(Alert)
            .where(alert_where(caller, query))
            .order_by(Alert.created_at.desc(), Alert.id.desc())
        ).all()
        chunks = (
            _csv_chunks(ALERT_COLUMNS, alerts, _alert_cells)
            if fmt == "csv"
            else _json_chunks(alerts, alert_json)
        )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={"content-disposition": f'attachment; filename="{resource}.{fmt}"'},
    )


__all__ = ["router"]
