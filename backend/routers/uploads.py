from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import ColumnElement, bindparam, delete, func, select, true
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from backend.csv_import import MAX_UPLOAD_BYTES, parse_cases_csv
from backend.db import Statements, columns_of, holds_nul
from backend.deps import Caller, CallerDep, SessionDep
from backend.errors import ApiError, custom_issue
from backend.jsonout import JsonResponse
from backend.models import Case, Upload
from backend.routers._common import parse_id, parse_query, record_event
from backend.schemas import UPLOAD_LIST
from backend.serialize import upload_json

router = APIRouter()


def find_upload(session: Session, caller: Caller, upload_id: int) -> Upload:
    row: Upload = caller.visible(session.get(Upload, upload_id), "Upload")
    return row


async def _file_part(request: Request) -> UploadFile:
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError("unsupported_media_type", "Expected multipart/form-data")
    try:
        form = await request.form(max_files=1000, max_fields=1000, max_part_size=64 * 1024 * 1024)
    except Exception:
        raise ApiError("unsupported_media_type", "Expected multipart/form-data") from None
    part = form.get("file")
    if not isinstance(part, UploadFile):
        raise custom_issue("file", "File is required")
    return part


@router.post("/api/upload")
async def upload_csv(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    caller.require("agent")
    part = await _file_part(request)
    filename = part.filename or ""
    if not filename.lower().endswith(".csv"):
        raise ApiError("unsupported_media_type", "Only CSV files are accepted")
    data = await part.read()
    if len(data) > MAX_UPLOAD_BYTES:
        raise ApiError("payload_too_large", "File exceeds 5 MB limit")
    parsed = parse_cases_csv(
        data.decode("utf-8", errors="replace"), caller.user, nul_ok=holds_nul(session)
    )
    for row in parsed.rows:
        session.add(
            Case(
                title=row["title"],
                description=row["description"],
                channel=row["channel"],
                status=row["status"],
                category=row["category"],
                priority=row["priority"],
                business_unit=row["businessUnit"],
                customer_name=row["customerName"],
                assignee_id=None,
                metadata_=None,
            )
        )
    upload = Upload(
        filename=filename[:255],
        content_type=part.content_type or "application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        status="failed" if parsed.failure else "processed",
        rows_imported=0 if parsed.failure else len(parsed.rows),
        rows_rejected=parsed.rejected,
        error=parsed.failure,
        user_id=caller.user.id,
        business_unit=caller.user.business_unit,
    )
    session.add(upload)
    session.flush()
    record_event(
        session,
        "upload.processed",
        "upload",
        upload.id,
        caller.user.id,
        {"rowsImported": upload.rows_imported, "rowsRejected": upload.rows_rejected},
        upload.business_unit,
    )
    session.commit()
    return JsonResponse({"upload": upload_json(upload), "errors": parsed.errors}, 201)


def _visible(admin: bool) -> ColumnElement[bool]:
    return true() if admin else Upload.business_unit == bindparam("unit")


_PAGE = Statements(
    lambda admin: (
        select(*columns_of(Upload))
        .where(_visible(admin))
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )
)
_COUNT = Statements(lambda admin: select(func.count()).select_from(Upload).where(_visible(admin)))
_BY_ID = Statements(lambda: select(*columns_of(Upload)).where(Upload.id == bindparam("id")))


@router.get("/api/uploads")
async def list_uploads(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query: dict[str, Any] = parse_query(request, UPLOAD_LIST)
    shape = (caller.is_admin,)
    unit = caller.user.business_unit
    rows = _PAGE.all(session, shape, unit=unit, limit=query["limit"], offset=query["offset"])
    total = _COUNT.scalar(session, shape, unit=unit) or 0
    return JsonResponse(
        {
            "data": [upload_json(r) for r in rows],
            "total": total,
            "limit": query["limit"],
            "offset": query["offset"],
        }
    )


@router.get("/api/uploads/{id}")
async def get_upload(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    return JsonResponse(
        upload_json(caller.visible(_BY_ID.first(session, id=parse_id(id)), "Upload"))
    )


@router.delete("/api/uploads/{id}")
async def delete_upload(id: str, caller: CallerDep, session: SessionDep) -> Response:
    caller.require("admin")
    upload_id = parse_id(id)
    unit = find_upload(session, caller, upload_id).business_unit
    session.execute(delete(Upload).where(Upload.id == upload_id))
    record_event(
        session, "upload.deleted", "upload", upload_id, caller.user.id, {"id": upload_id}, unit
    )
    session.commit()
    return Response(status_code=204)
