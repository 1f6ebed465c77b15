from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from backend.clock import now_iso
from backend.deps import SessionDep
from backend.jsonout import JsonResponse

router = APIRouter()


@router.get("/api/health")
async def health(session: SessionDep) -> JsonResponse:
    try:
        session.execute(text("select 1"))
    except Exception:
        return JsonResponse({"status": "error", "database": "error", "time": now_iso()}, 503)
    return JsonResponse({"status": "ok", "database": "ok", "time": now_iso()})
