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
from backend.routers._common import parse_query, tally
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


def _counts(
    session: Session,
    table: str,
    counts: list[tuple[str, list[Any]]],
    scope: str,
    params: list[Any],
    within: tuple[str, list[Any]] = ("1 = 1", []),
    group_by: str | None = None,
) -> list[tuple[Any, ...]]:
    """Each ``(condition, values)`` counted over ``table`` in one scan (``count(*) FILTER``,
    on SQLite and PostgreSQL alike): one statement where the legacy runs one per count. Rows
    outside ``within`` (a condition every count implies: an indexed range) are not read. One
    result row, or one per ``group_by`` key (the key first)."""
    columns = ", ".join(f"count(*) FILTER (WHERE {condition})" for condition, _ in counts)
    values = [v for _, condition_values in counts for v in condition_values]
    where, where_values = within
    if group_by is None:
        sql = f"SELECT {columns} FROM {table} WHERE {where}{scope}"
    else:
        sql = f"SELECT {group_by}, {columns} FROM {table} WHERE {where}{scope} GROUP BY {group_by}"
    return _raw(session, sql, [*values, *where_values, *params])


@router.get("/api/pulse")
async def pulse(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, PULSE)
    as_of = resolve_as_of(session, query.get("asOf"))
    days: int = query["days"]
    since = shift_days(as_of, -days)
    clause, params = _unit_scope(session, caller, query.get("businessUnit"))
    window = [since, as_of]
    in_window = "created_at > ? AND created_at <= ?"
    by_channel, by_priority = dict.fromkeys(CHANNELS, 0), dict.fromkeys(PRIORITIES, 0)
    # the window's cases by (channel, priority): opened, byChannel and byPriority in one read
    opened_rows = _counts(
        session, "cases", [("1 = 1", [])], clause, params, (in_window, window), "channel, priority"
    )
    opened = tally(opened_rows, by_channel, by_priority)
    ((resolved, backlog),) = _counts(
        session,
        "cases",
        [
            ("status IN ('resolved', 'closed') AND updated_at > ? AND updated_at <= ?", window),
            ("status IN ('open', 'in_progress') AND created_at <= ?", [as_of]),
        ],
        clause,
        params,
    )
    ((raised, critical, active),) = _counts(
        session,
        "alerts",
        [
            (in_window, window),
            (f"severity = 'critical' AND {in_window}", window),
            ("status = 'active' AND created_at <= ?", [as_of]),
        ],
        clause,
        params,
    )
    return JsonResponse(
        {
            "asOf": as_of,
            "since": since,
            "days": days,
            "cases": {
                "opened": opened,
                "resolved": resolved,
                "backlog": backlog,
                "byChannel": by_channel,
                "byPriority": by_priority,
            },
            "alerts": {"raised": raised, "critical": critical, "active": active},
        }
    )


@router.get("/api/predictions")
async def predictions(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, PREDICTIONS)
    as_of = resolve_as_of(session, query.get("asOf"))
    weeks: int = query["weeks"]
    clause, params = _unit_scope(session, caller, query.get("businessUnit"))
    # one read: a count per week (oldest first) for each channel
    windows = [
        [shift_days(as_of, -7 * back), shift_days(as_of, -7 * (back - 1))]
        for back in range(weeks, 0, -1)
    ]
    rows = _counts(
        session,
        "cases",
        [("created_at > ? AND created_at <= ?", window) for window in windows],
        clause,
        params,
        within=("created_at > ? AND created_at <= ?", [windows[0][0], as_of]),
        group_by="channel",
    )
    found = {str(channel): list(counts) for channel, *counts in rows}
    history = {c: found.get(c, [0] * weeks) for c in CHANNELS}
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
