"""Request schemas, declared as the legacy's zod schemas are (see backend.validation)."""

from __future__ import annotations

from typing import Any

from backend.validation import Enum, Int, IsoDatetime, Obj, Record, Str

CHANNELS = ("email", "chat", "phone", "social", "web")
CASE_STATUSES = ("open", "in_progress", "resolved", "closed")
PRIORITIES = ("low", "medium", "high", "urgent")
SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("active", "acknowledged", "resolved")
FEED_KINDS = ("case_update", "alert", "trend", "announcement")
SCOPES = ("all", "cases", "alerts", "feed")
CASE_SORTS = (
    "createdAt",
    "-createdAt",
    "updatedAt",
    "-updatedAt",
    "priority",
    "-priority",
    "title",
    "-title",
)


def business_unit() -> Str:
    return Str(min=1, max=64)


def positive_id() -> Int:
    return Int(positive=True)


def query_int(lo: int | None = None, hi: int | None = None) -> Int:
    return Int(min=lo, max=hi, coerce=True)


def limit_offset(max_limit: int) -> dict[str, Any]:
    return {
        "limit": query_int(1, max_limit).default(20),
        "offset": query_int(0).default(0),
    }


LOGIN = Obj({"email": Str(min=1, max=320), "password": Str(min=1, max=200)})


def alert_body() -> Obj:
    return Obj(
        {
            "title": Str(min=1, max=200),
            "message": Str(min=1, max=2000),
            "severity": Enum(values=SEVERITIES),
            "businessUnit": business_unit().optional(),
            "caseId": positive_id().nullable().optional(),
            "metadata": Record().nullable().optional(),
        }
    )


ALERT_LIST = Obj(
    {
        "businessUnit": business_unit().optional(),
        "severity": Enum(values=SEVERITIES).optional(),
        "status": Enum(values=ALERT_STATUSES).optional(),
        **limit_offset(100),
    }
)
ALERT_COUNT = Obj({"businessUnit": business_unit().optional()})


def case_create() -> Obj:
    return Obj(
        {
            "title": Str(min=1, max=200),
            "description": Str(max=5000).default(""),
            "channel": Enum(values=CHANNELS),
            "status": Enum(values=CASE_STATUSES).default("open"),
            "category": Str(min=1, max=64),
            "priority": Enum(values=PRIORITIES).default("medium"),
            "businessUnit": business_unit().optional(),
            "customerName": Str(min=1, max=200),
            "assigneeId": positive_id().nullable().optional(),
            "metadata": Record().nullable().optional(),
        }
    )


CASE_CREATE = case_create()
CASE_PATCH = Obj(
    {
        "title": Str(min=1, max=200).optional(),
        "description": Str(max=5000).optional(),
        "channel": Enum(values=CHANNELS).optional(),
        "status": Enum(values=CASE_STATUSES).optional(),
        "category": Str(min=1, max=64).optional(),
        "priority": Enum(values=PRIORITIES).optional(),
        "businessUnit": business_unit().optional(),
        "customerName": Str(min=1, max=200).optional(),
        "assigneeId": positive_id().nullable().optional(),
        "metadata": Record().nullable().optional(),
    }
).refine(lambda body: len(body) > 0, "At least one field is required")
CASE_ASSIGN = Obj({"assigneeId": positive_id().nullable()})


def case_filters() -> dict[str, Any]:
    """The case filters of GET /api/cases and of the cases export, defined once."""
    return {
        "channel": Enum(values=CHANNELS).optional(),
        "status": Enum(values=CASE_STATUSES).optional(),
        "category": Str(min=1, max=64).optional(),
        "businessUnit": business_unit().optional(),
        "assigneeId": Int(positive=True, coerce=True).optional(),
        "sort": Enum(values=CASE_SORTS).default("-createdAt"),
    }


CASE_LIST = Obj(
    {
        **case_filters(),
        # not in the contract: a filter only the list takes
        "priority": Enum(values=PRIORITIES).optional(),
        "page": query_int(1).default(1),
        "pageSize": query_int(1, 100).default(20),
    }
)

FEED_LIST = Obj(
    {
        "kind": Enum(values=FEED_KINDS).optional(),
        "businessUnit": business_unit().optional(),
        "cursor": Str().optional(),
        "limit": query_int(1, 50).default(20),
    }
)
FEED_CREATE = Obj(
    {
        "kind": Enum(values=FEED_KINDS),
        "title": Str(min=1, max=200),
        "body": Str(max=5000).default(""),
        "priority": Int(min=0, max=100).default(50),
        "businessUnit": business_unit().nullable().optional(),
        "expiresAt": IsoDatetime().nullable().optional(),
    }
)

SEARCH = Obj(
    {
        "q": Str(min=1, max=200),
        "scope": Enum(values=SCOPES).default("all"),
        "businessUnit": business_unit().optional(),
        "limit": query_int(1, 50).default(20),
    }
)
SEARCH_ANALYTICS = Obj({"days": query_int(1, 365).default(7)})
UPLOAD_LIST = Obj(limit_offset(100))

SUBJECT_TYPES = (
    "alert",
    "case",
    "feed_item",
    "upload",
    "session",
    "share",
    "notification",
    "chat_message",
    "trending",
    "job",
)
EVENT_LIST = Obj(
    {
        "kind": Str(min=1, max=64).optional(),
        "subjectType": Enum(values=SUBJECT_TYPES).optional(),
        "subjectId": Int(positive=True, coerce=True).optional(),
        "since": IsoDatetime().optional(),
        "until": IsoDatetime().optional(),
        "cursor": Str().optional(),
        "limit": query_int(1, 100).default(20),
    }
)
EVENT_CURSOR = Obj({"i": Int()})
INBOX_LIST = Obj({"unread": Enum(values=("true", "false")).optional(), **limit_offset(100)})
SHARE_CREATE = Obj(
    {
        "caseId": positive_id(),
        "sharedWith": Str(min=1, max=320),
        "note": Str(max=1000).nullable().optional(),
    }
)
CHAT_LIST = Obj({"after": query_int(0).default(0), "limit": query_int(1, 100).default(50)})
CHAT_CREATE = Obj({"body": Str(min=1, max=2000)})


EXPORT = Obj(
    {
        "resource": Enum(values=("cases", "alerts")),
        "format": Enum(values=("csv", "json")).default("csv"),
    }
)
EXPORT_CASES = Obj(case_filters())
EXPORT_ALERTS = Obj(
    {
        "businessUnit": business_unit().optional(),
        "severity": Enum(values=SEVERITIES).optional(),
        "status": Enum(values=ALERT_STATUSES).optional(),
    }
)
TRENDING_LIST = Obj({"limit": query_int(1, 50).default(10)})
TRENDING_COMPUTE = Obj({"asOf": IsoDatetime().optional(), "days": Int(min=1, max=90).default(7)})
PULSE = Obj(
    {
        "asOf": IsoDatetime().optional(),
        "days": query_int(1, 90).default(7),
        "businessUnit": business_unit().optional(),
    }
)
PREDICTIONS = Obj(
    {
        "asOf": IsoDatetime().optional(),
        "weeks": query_int(2, 12).default(4),
        "businessUnit": business_unit().optional(),
    }
)


def webhook_alert_body() -> Obj:
    """An alert from an external monitor: an alert's fields, its business unit required."""
    return Obj({**alert_body().fields, "businessUnit": business_unit()})
