"""Background jobs (``POST /api/cases/{id}/summary``): rows of ``jobs``, claimed by the worker
process (``backend.worker``) with one conditional UPDATE, as the legacy's worker loop does
(legacy/lib/jobs.ts), so a job queued before a restart runs after it on either side."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.clock import iso, now
from backend.db import raw_rows
from backend.events import record_event
from backend.jsonout import stringify

LEASE = timedelta(milliseconds=float(os.environ.get("JOBS_LEASE_MS", "60000")))
"""A claimed job whose worker died is taken again once its claim is this old (``JOBS_LEASE_MS``,
as the legacy reads it: a test that kills a worker shortens it)."""

_CLAIMABLE = "(status = 'queued' OR (status = 'running' AND updated_at < :stale))"
_CLAIM = text(
    "UPDATE jobs SET status = 'running', updated_at = :now "
    f"WHERE id = (SELECT id FROM jobs WHERE {_CLAIMABLE} ORDER BY id LIMIT 1) AND {_CLAIMABLE} "
    "RETURNING id, case_id, requested_by"
)
_FINISH = text(
    "UPDATE jobs SET status = :status, result = :result, error = :error, updated_at = :now "
    "WHERE id = :id RETURNING id, kind, case_id, status, result, error, created_at, updated_at"
)


def job_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "caseId": row.case_id,
        "status": row.status,
        "result": json.loads(row.result) if row.result else None,
        "error": row.error,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


def case_summary(session: Session, case_id: int) -> dict[str, Any] | None:
    """The case's own alerts and chat messages: counts and latest times (legacy's
    ``caseSummary``)."""
    found = raw_rows(session, "SELECT id, status, priority FROM cases WHERE id = ?", [case_id])
    if not found:
        return None
    _, status, priority = found[0]
    alerts = raw_rows(
        session,
        "SELECT count(*), max(created_at), "
        "coalesce(sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN status = 'acknowledged' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN status = 'resolved' THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN severity = 'critical' THEN 1 ELSE 0 END), 0) "
        "FROM alerts WHERE case_id = ?",
        [case_id],
    )[0]
    chat = raw_rows(
        session,
        "SELECT count(*), max(created_at), min(created_at), count(DISTINCT user_id) "
        "FROM chat_messages WHERE case_id = ?",
        [case_id],
    )[0]
    return {
        "caseId": case_id,
        "status": status,
        "priority": priority,
        "alerts": {
            "total": int(alerts[0]),
            "active": int(alerts[2]),
            "acknowledged": int(alerts[3]),
            "resolved": int(alerts[4]),
            "critical": int(alerts[5]),
            "latestAt": alerts[1],
        },
        "chat": {
            "messages": int(chat[0]),
            "participants": int(chat[3]),
            "firstAt": chat[2],
            "latestAt": chat[1],
        },
    }


_ANY = text(f"SELECT 1 FROM jobs WHERE {_CLAIMABLE} LIMIT 1")


def claim(session: Session) -> Any:
    """The oldest claimable job, now ``running`` (committed), or None. An idle poll only
    reads: the write lock is taken only when there is a job to claim, so the worker never
    stands in the way of a request's write on SQLite."""
    moment = now()
    idle = session.execute(_ANY, {"stale": iso(moment - LEASE)}).first() is None
    session.commit()
    if idle:
        return None
    row = session.execute(_CLAIM, {"now": iso(moment), "stale": iso(moment - LEASE)}).first()
    session.commit()
    return row


def finish(session: Session, job: Any) -> None:
    """Computes a claimed job's summary and stores it with its ``job.done`` event (or
    ``job.failed``), in one transaction."""
    summary = case_summary(session, job.case_id)
    status = "failed" if summary is None else "done"
    row = session.execute(
        _FINISH,
        {
            "status": status,
            "result": None if summary is None else stringify(summary),
            "error": "Case not found" if summary is None else None,
            "now": iso(now()),
            "id": job.id,
        },
    ).one()
    unit = raw_rows(session, "SELECT business_unit FROM cases WHERE id = ?", [job.case_id])
    record_event(
        session,
        f"job.{status}",
        "job",
        job.id,
        job.requested_by,
        job_json(row),
        unit[0][0] if unit else None,
    )
    session.commit()


def work_queued(session: Session) -> int:
    """Every claimable job, one after another; how many ran."""
    done = 0
    while (job := claim(session)) is not None:
        finish(session, job)
        done += 1
    return done
