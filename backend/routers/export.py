"""Cases or alerts in the caller's scope as CSV (RFC 4180, header row) or a JSON array, streamed."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import StreamingResponse

from backend.db import Statements, columns_of
from backend.deps import CallerDep, SessionDep
from backend.jsonout import dumps
from backend.models import Alert, Case
from backend.routers._common import parse_query
from backend.routers.alerts import ALERT_FILTERS, alert_scope, alert_where
from backend.routers.cases import case_order, case_scope, case_where
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
    text = value if isinstance(value, str) else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if _NEEDS_QUOTES.search(text) else text


def csv_record(values: Iterable[Cell]) -> str:
    return ",".join(csv_field(v) for v in values) + "\r\n"


# the CSV reads plain column tuples (no ORM objects): the columns in CSV order
CASE_CELLS = (
    Case.id,
    Case.title,
    Case.description,
    Case.channel,
    Case.status,
    Case.category,
    Case.priority,
    Case.business_unit,
    Case.customer_name,
    Case.assignee_id,
    Case.metadata_,
    Case.created_at,
    Case.updated_at,
)
ALERT_CELLS = (
    Alert.id,
    Alert.title,
    Alert.message,
    Alert.severity,
    Alert.status,
    Alert.business_unit,
    Alert.case_id,
    Alert.acknowledged_by,
    Alert.acknowledged_at,
    Alert.resolved_at,
    Alert.metadata_,
    Alert.created_at,
    Alert.updated_at,
)
CHUNK_ROWS = 100
_CASES = Statements(
    lambda scope, sort, fmt: (
        select(*(CASE_CELLS if fmt == "csv" else columns_of(Case)))
        .where(case_where(*scope))
        .order_by(*case_order(sort))
    )
)
_ALERTS = Statements(
    lambda scope, fmt: (
        select(*(ALERT_CELLS if fmt == "csv" else columns_of(Alert)))
        .where(alert_where(*scope))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    )
)


# The chunks are encoded on the event loop (an async generator): a sync iterator would cost a
# thread-pool hop per chunk, more than encoding a hundred rows takes.
async def _csv_chunks(
    columns: Sequence[str], rows: Sequence[Sequence[Cell]]
) -> AsyncIterator[bytes]:
    head = csv_record(columns)
    for start in range(0, len(rows), CHUNK_ROWS):
        yield (head + "".join(csv_record(row) for row in rows[start : start + CHUNK_ROWS])).encode()
        head = ""
    if head:
        yield head.encode()


async def _json_chunks(
    rows: Sequence[Row], to_json: Callable[[Row], dict[str, Any]]
) -> AsyncIterator[bytes]:
    head = b"["
    for start in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[start : start + CHUNK_ROWS]
        yield head + dumps([to_json(row) for row in chunk], floats=True)[1:-1]
        head = b","
    yield b"]" if rows else b"[]"


@router.get("/api/export")
async def export(request: Request, caller: CallerDep, session: SessionDep) -> StreamingResponse:
    base = parse_query(request, EXPORT)
    resource, fmt = base["resource"], base["format"]
    chunks: AsyncIterator[bytes]
    # every row is read before streaming starts, and the session gives its connection back to
    # the pool: a response still streaming to a slow client must not hold one (requests that
    # wait for a connection block the event loop that streams, and the worker stalls)
    if resource == "cases":
        query = parse_query(request, EXPORT_CASES)
        scope, params = case_scope(session, caller, query)
        shape = (scope, query["sort"], fmt)
        if fmt == "csv":
            chunks = _csv_chunks(CASE_COLUMNS, _CASES.all(session, shape, **params))
        else:
            chunks = _json_chunks(_CASES.all(session, shape, **params), case_json)
    else:
        query = parse_query(request, EXPORT_ALERTS)
        alerts_scope, params = alert_scope(session, caller, query, ALERT_FILTERS)
        if fmt == "csv":
            rows = _ALERTS.all(session, (alerts_scope, fmt), **params)
            chunks = _csv_chunks(ALERT_COLUMNS, rows)
        else:
            chunks = _json_chunks(_ALERTS.all(session, (alerts_scope, fmt), **params), alert_json)
    session.close()
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8" if fmt == "csv" else "application/json",
        headers={"content-disposition": f'attachment; filename="{resource}.{fmt}"'},
    )


__all__ = ["router"]
