"""Background jobs: a case summary queued for the worker process, and its state."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from backend.db import columns_of, insert_returning
from backend.deps import CallerDep, SessionDep
from backend.errors import not_found
from backend.jobs import job_json
from backend.jsonout import JsonResponse
from backend.models import Case, Job
from backend.routers._common import parse_id, record_event
from backend.routers.cases import see_case

router = APIRouter()


@router.post("/api/cases/{id}/summary")
async def queue_summary(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    """202 with the queued job and its Location; ``backend.worker`` finishes it."""
    case_id = parse_id(id)
    found = see_case(session, caller, case_id)
    row = insert_returning(
        session, Job, kind="case_summary", case_id=case_id, requested_by=caller.user.id
    )
    record_event(
        session, "job.queued", "job", row.id, caller.user.id, job_json(row), found.business_unit
    )
    session.commit()
    return JsonResponse(job_json(row), 202, {"location": f"/api/jobs/{row.id}"})


@router.get("/api/jobs/{id}")
async def get_job(id: str, caller: CallerDep, session: SessionDep) -> JsonResponse:
    """The job, to whoever can see its case (404 otherwise, as for the case)."""
    job_id = parse_id(id)
    row = session.execute(
        select(*columns_of(Job), Case.business_unit)
        .join(Case, Case.id == Job.case_id)
        .where(Job.id == job_id)
    ).first()
    if row is None or not caller.can_see(row.business_unit):
        raise not_found("Job")
    return JsonResponse(job_json(row))


__all__ = ["router"]
