"""``POST /api/webhooks/alerts``: alerts from an external monitor, signed, idempotent."""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from starlette.responses import Response

from backend.db import Statements, columns_of, insert_returning, insert_row
from backend.deps import SessionDep
from backend.errors import ApiError
from backend.jsonout import stringify
from backend.models import Alert, WebhookDelivery
from backend.ratelimit import hit, webhook_key, webhook_limit
from backend.routers._common import read_json, record_event, validate
from backend.routers.alerts import check_case_exists
from backend.schemas import webhook_alert_body
from backend.serialize import alert_json
from backend.webhooks import idempotency_key, sha256_hex, verify_signature

router = APIRouter()
BODY = webhook_alert_body()
_KEPT = Statements(
    lambda: select(*columns_of(WebhookDelivery)).where(
        WebhookDelivery.idempotency_key == bindparam("key")
    )
)


def _answer(status: int, text: str) -> Response:
    return Response(text, status, media_type="application/json")


def _replay(kept: Any, body_sha256: str) -> Response:
    """The first answer again for the same body; 409 for another body."""
    if kept.body_sha256 != body_sha256:
        raise ApiError("idempotency_conflict", "Idempotency-Key was already used with another body")
    return _answer(int(kept.status), kept.answer)


def _kept(session: Session, key: str) -> Any:
    return _KEPT.first(session, key=key)


@router.post("/api/webhooks/alerts")
async def receive_alert(request: Request, session: SessionDep) -> Response:
    raw = await request.body()
    verify_signature(request, raw)
    hit(session, webhook_key(os.environ.get("WEBHOOK_SECRET", "")), webhook_limit())
    key = idempotency_key(request)
    body_sha256 = sha256_hex(raw)
    if key is not None:
        kept = _kept(session, key)
        if kept is not None:
            return _replay(kept, body_sha256)
    body = validate(BODY, await read_json(request))
    check_case_exists(session, body.get("caseId"))
    for _attempt in range(_ATTEMPTS):
        try:
            return _deliver(session, body, key, body_sha256)
        except IntegrityError:  # the same key stored by a delivery at the same moment
            session.rollback()
            if key is None:
                raise
        except OperationalError as error:  # SQLite: another process's write came first
            session.rollback()
            if "locked" not in str(error):
                raise
        if key is not None and (kept := _kept(session, key)) is not None:
            return _replay(kept, body_sha256)
    raise ApiError("internal_error", "Internal server error")


_ATTEMPTS = 5


def _deliver(session: Session, body: dict[str, Any], key: str | None, body_sha256: str) -> Response:
    """The alert, its event and (with a key) the kept answer, in one transaction."""
    metadata = body.get("metadata")
    row = insert_returning(
        session,
        Alert,
        title=body["title"],
        message=body["message"],
        severity=body["severity"],
        business_unit=body["businessUnit"],
        case_id=body.get("caseId"),
        metadata=None if metadata is None else stringify(metadata),
    )
    json = alert_json(row)
    record_event(session, "alert.created", "alert", row.id, None, json, row.business_unit)
    text = stringify(json)
    if key is not None:
        # the unique key, not the lookup before, decides between two deliveries at once
        insert_row(
            session,
            WebhookDelivery,
            idempotency_key=key,
            body_sha256=body_sha256,
            status=201,
            answer=text,
            alert_id=row.id,
        )
    session.commit()
    return _answer(201, text)


__all__ = ["router"]
