"""Pulse (summary metrics over a window) and predictions (next week's volume per channel).

Both take their "now" from ``asOf`` or, by default, from the data (the newest case), so two
services over one database answer alike at any instant.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from backend.asof import resolve_as_of
from backend.clock import shift_days
from backend.db import matchable, raw_rows
from backend.deps import Caller, CallerDep, SessionDep
from backend.jsonout import JsonResponse
from backend.routers._common import parse_query
from backend.schemas import CHANNELS, PREDICTIONS, PRIORITIES, PULSE

router = APIRouter()


def _unit_scope(
    session: Session, caller: Caller, business_unit: str | None
) -> tuple[str, list[str]]:
    parts: list[str] = []
    params: list[str] = []
    if not caller.is_admin:
        parts.append("business_unit = ?")
        params.append(caller.user.business_unit)
    if business_unit is not None:
        if matchable(session, business_unit):
            parts.append("business_unit = ?")
            params.append(business_unit)
        else:  # text with a NUL on PostgreSQL: no stored row can hold it, none matches
            parts.append("1 = 0")
    return "".join(f" AND {p}" for p in parts), params


def _raw(session: Session, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    # positional "?" parameters, as the legacy's better-sqlite3 statements use
    return raw_rows(session, sql, params)


def _count(session: Session, sql: str, params: list[Any]) -> int:
    return int(_raw(session, sql, params)[0][0])


def _keyed(keys: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, int]:
    found = {str(k): int(n) for k, n in rows}
    return {key: found.get(key, 0) for key in keys}


@router.get("/api/pulse")
async def pulse(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, PULSE)
    as_of = resolve_as_of(session, query.get("asOf"))
    days: int = query["days"]
    since = shift_days(as_of, -days)
    clause, params = _unit_scope(session, caller, query.get("businessUnit"))
    in_window = f"created_at > ? AND created_at <= ?{clause}"
    window = [since, as_of, *params]

    def grouped(column: str) -> list[tuple[Any, ...]]:
        return _raw(
            session,
            f"SELECT {column} AS key, count(*) AS n FROM cases WHERE {in_window} GROUP BY {column}",
            window,
        )

    return JsonResponse(
        {
            "asOf": as_of,
            "since": since,
            "days": days,
            "cases": {
                "opened": _count(session, f"SELECT count(*) FROM cases WHERE {in_window}", window),
                "resolved": _count(
                    session,
                    "SELECT count(*) FROM cases WHERE status IN ('resolved', 'closed') "
                    f"AND updated_at > ? AND updated_at <= ?{clause}",
                    window,
                ),
                "backlog": _count(
                    session,
                    "SELECT count(*) FROM cases WHERE status IN ('open', 'in_progress') "
                    f"AND created_at <= ?{clause}",
                    [as_of, *params],
                ),
                "byChannel": _keyed(CHANNELS, grouped("channel")),
                "byPriority": _keyed(PRIORITIES, grouped("priority")),
            },
            "alerts": {
                "raised": _count(session, f"SELECT count(*) FROM alerts WHERE {in_window}", window),
                "critical": _count(
                    session,
                    f"SELECT count(*) FROM alerts WHERE severity = 'critical' AND {in_window}",
                    window,
                ),
                "active": _count(
                    session,
                    "SELECT count(*) FROM alerts WHERE status = 'active' "
                    f"AND created_at <= ?{clause}",
                    [as_of, *params],
                ),
            },
        }
    )


@router.get("/api/predictions")
async def predictions(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, PREDICTIONS)
    as_of = resolve_as_of(session, query.get("asOf"))
    weeks: int = query["weeks"]
    clause, params = _unit_scope(session, caller, query.get("businessUnit"))
    sql = (
        "SELECT channel, count(*) AS n FROM cases WHERE created_at > ? AND created_at <= ?"
        f"{clause} GROUP BY channel"
    )
    history: dict[str, list[int]] = {c: [] for c in CHANNELS}
    for back in range(weeks, 0, -1):
        window = [shift_days(as_of, -7 * back), shift_days(as_of, -7 * (back - 1)), *params]
        counts = _keyed(CHANNELS, _raw(session, sql, window))
        for channel in CHANNELS:
            history[channel].append(counts[channel])
    weight_sum = weeks * (weeks + 1) // 2
    channels: list[dict[str, Any]] = []
    total = 0
    for channel in CHANNELS:
        weighted = sum((i + 1) * n for i, n in enumerate(history[channel]))
        predicted = (2 * weighted + weight_sum) // (2 * weight_sum)
        channels.append({"channel": channel, "history": history[channel], "predicted": predicted})
        total += predicted
    return JsonResponse(
        {
            "asOf": as_of,
            "weeks": weeks,
            "method": "weighted-moving-average",
            "forWeek": {"from": as_of, "to": shift_days(as_of, 7)},
            "channels": channels,
            "total": total,
        }
    )


__all__ = ["router"]
