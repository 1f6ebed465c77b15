"""Resource JSON exactly as the legacy writes it (field order, omitted metadata)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import Row

from backend.jsonout import stringify
from backend.models import (
    Alert,
    AuthUser,
    Case,
    ChatMessage,
    Event,
    FeedItem,
    Notification,
    Share,
    TrendingTopic,
    Upload,
    User,
)


def _metadata(out: dict[str, Any], raw: str | None) -> None:
    if raw:  # NULL (and '') is omitted, as JavaScript drops undefined
        out["metadata"] = _json_text(raw) if len(raw) <= _CACHED_TEXT else json.loads(raw)


_CACHED_TEXT = 4096


@lru_cache(maxsize=4096)
def _json_text(raw: str) -> orjson.Fragment:
    """A stored JSON column as ``JSON.stringify(JSON.parse(raw))`` writes it, ready to embed:
    the same text always writes the same bytes, so a list page parses each value once."""
    return orjson.Fragment(stringify(json.loads(raw)).encode())


def user_json(user: User | AuthUser) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "businessUnit": user.business_unit,
        "createdAt": user.created_at,
    }


def case_json(row: Case | Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "description": row.description,
        "channel": row.channel,
        "status": row.status,
        "category": row.category,
        "priority": row.priority,
        "businessUnit": row.business_unit,
        "customerName": row.customer_name,
        "assigneeId": row.assignee_id,
    }
    _metadata(out, row.metadata_)
    out["createdAt"] = row.created_at
    out["updatedAt"] = row.updated_at
    return out


def alert_json(row: Alert | Row[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row.id,
        "title": row.title,
        "message": row.message,
        "severity": row.severity,
        "status": row.status,
        "businessUnit": row.business_unit,
        "caseId": row.case_id,
        "acknowledgedBy": row.acknowledged_by,
        "acknowledgedAt": row.acknowledged_at,
        "resolvedAt": row.resolved_at,
    }
    _metadata(out, row.metadata_)
    out["createdAt"] = row.created_at
    out["updatedAt"] = row.updated_at
    return out


def feed_json(row: FeedItem | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "priority": row.priority,
        "businessUnit": row.business_unit,
        "expiresAt": row.expires_at,
        "createdAt": row.created_at,
    }


def upload_json(row: Upload | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "filename": row.filename,
        "contentType": row.content_type,
        "size": row.size,
        "sha256": row.sha256,
        "status": row.status,
        "rowsImported": row.rows_imported,
        "rowsRejected": row.rows_rejected,
        "error": row.error,
        "userId": row.user_id,
        "businessUnit": row.business_unit,
        "createdAt": row.created_at,
        "updatedAt": row.updated_at,
    }


def event_json(row: Event | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "subjectType": row.subject_type,
        "subjectId": row.subject_id,
        "actorId": row.actor_id,
        "payload": json.loads(row.payload),
        "businessUnit": row.business_unit,
        "createdAt": row.created_at,
    }


def share_json(row: Share | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "caseId": row.case_id,
        "sharedWith": row.shared_with,
        "note": row.note,
        "createdBy": row.created_by,
        "createdAt": row.created_at,
    }


def notification_json(row: Notification | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "caseId": row.case_id,
        "actorId": row.actor_id,
        "message": row.message,
        "readAt": row.read_at,
        "createdAt": row.created_at,
    }


def chat_json(row: ChatMessage | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "caseId": row.case_id,
        "userId": row.user_id,
        "body": row.body,
        "createdAt": row.created_at,
    }


def trending_json(row: TrendingTopic | Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "topic": row.topic,
        "score": row.score,
        "caseCount": row.case_count,
        "sampleCaseIds": json.loads(row.sample_case_ids),
        "computedAt": row.computed_at,
    }
