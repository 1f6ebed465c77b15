"""ORM classes mapping the tables the legacy's Drizzle migrations create (no migrations here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import REAL, BigInteger, ForeignKey, Index, Integer, Text, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.functions import FunctionElement


class now_iso(FunctionElement[str]):
    """``new Date().toISOString()`` in SQL, in each engine's dialect (a column default)."""

    type = Text()
    inherit_cache = True


@compiles(now_iso)
def _now_iso_sqlite(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "(strftime('%Y-%m-%dT%H:%M:%fZ','now'))"


@compiles(now_iso, "postgresql")
def _now_iso_postgresql(_element: Any, _compiler: Any, **_kw: Any) -> str:
    return "(to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))"


NOW_ISO = now_iso()

# SQLite's INTEGER holds any 64-bit value; PostgreSQL's integer only 32 bits. BIGINT on
# PostgreSQL keeps the legacy's range: an id or a filter value such as 130039595012 is a
# valid integer that matches no row (404, empty list), never a driver "out of range" error.
INT64 = Integer().with_variant(BigInteger(), "postgresql")


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = (Index("users_email_unique", "email", unique=True),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(Text)
    name: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(Text)
    business_unit: Mapped[str] = mapped_column(Text)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


@dataclass(frozen=True, slots=True)
class AuthUser:
    """The signed-in user as a request sees it (read-only, not attached to a session)."""

    id: int
    email: str
    name: str
    role: str
    business_unit: str
    created_at: str


class SessionRow(Base):
    __tablename__ = "sessions"
    __table_args__ = (
        Index("sessions_token_unique", "token", unique=True),
        Index("sessions_user_id_idx", "user_id"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    token: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int] = mapped_column(INT64, ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        Index("cases_assignee_id_idx", "assignee_id"),
        Index("cases_business_unit_status_idx", "business_unit", "status"),
        Index("cases_created_at_idx", "created_at"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    channel: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'open'"))
    category: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(Text, server_default=text("'medium'"))
    business_unit: Mapped[str] = mapped_column(Text)
    customer_name: Mapped[str] = mapped_column(Text)
    assignee_id: Mapped[int | None] = mapped_column(
        INT64, ForeignKey("users.id", ondelete="SET NULL")
    )
    metadata_: Mapped[str | None] = mapped_column("metadata", Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("alerts_case_id_idx", "case_id"),
        Index("alerts_acknowledged_by_idx", "acknowledged_by"),
        Index("alerts_business_unit_status_idx", "business_unit", "status"),
        Index("alerts_created_at_idx", "created_at"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'active'"))
    business_unit: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("cases.id", ondelete="SET NULL"))
    acknowledged_by: Mapped[int | None] = mapped_column(
        INT64, ForeignKey("users.id", ondelete="SET NULL")
    )
    acknowledged_at: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[str | None] = mapped_column("metadata", Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class FeedItem(Base):
    __tablename__ = "feed_items"
    __table_args__ = (Index("feed_items_priority_created_at_idx", "priority", "created_at"),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text, server_default=text("''"))
    priority: Mapped[int] = mapped_column(INT64, server_default=text("50"))
    business_unit: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class SearchAnalytic(Base):
    __tablename__ = "search_analytics"
    __table_args__ = (
        Index("search_analytics_user_id_idx", "user_id"),
        Index("search_analytics_created_at_idx", "created_at"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    query: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    result_count: Mapped[int] = mapped_column(INT64)
    user_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("users.id", ondelete="SET NULL"))
    filters: Mapped[str] = mapped_column(Text, server_default=text("'{}'"))
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Upload(Base):
    __tablename__ = "uploads"
    __table_args__ = (Index("uploads_user_id_idx", "user_id"),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(INT64)
    sha256: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text, server_default=text("'pending'"))
    rows_imported: Mapped[int] = mapped_column(INT64, server_default=text("0"))
    rows_rejected: Mapped[int] = mapped_column(INT64, server_default=text("0"))
    error: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("users.id", ondelete="SET NULL"))
    business_unit: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class TrendingTopic(Base):
    __tablename__ = "trending_topics"
    __table_args__ = (Index("trending_topics_topic_unique", "topic", unique=True),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(REAL)
    case_count: Mapped[int] = mapped_column(INT64)
    sample_case_ids: Mapped[str] = mapped_column(Text, server_default=text("'[]'"))
    computed_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Share(Base):
    __tablename__ = "shares"
    __table_args__ = (
        Index("shares_case_id_idx", "case_id"),
        Index("shares_created_by_idx", "created_by"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(INT64, ForeignKey("cases.id", ondelete="CASCADE"))
    shared_with: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        INT64, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (
        Index("events_subject_idx", "subject_type", "subject_id"),
        Index("events_actor_id_idx", "actor_id"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    subject_type: Mapped[str] = mapped_column(Text)
    subject_id: Mapped[int | None] = mapped_column(INT64)
    actor_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("users.id", ondelete="SET NULL"))
    payload: Mapped[str] = mapped_column(Text, server_default=text("'{}'"))
    business_unit: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index("notifications_user_id_idx", "user_id"),
        Index("notifications_case_id_idx", "case_id"),
        Index("notifications_actor_id_idx", "actor_id"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(INT64, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("cases.id", ondelete="CASCADE"))
    actor_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("users.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    read_at: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("chat_messages_case_id_idx", "case_id"),
        Index("chat_messages_user_id_idx", "user_id"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(INT64, ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(INT64, ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class Job(Base):
    """Background work (a case summary), claimed by ``backend.worker`` with one UPDATE."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("jobs_status_idx", "status", "id"),
        Index("jobs_case_id_idx", "case_id"),
    )

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(Text)
    case_id: Mapped[int] = mapped_column(INT64, ForeignKey("cases.id", ondelete="CASCADE"))
    requested_by: Mapped[int | None] = mapped_column(
        INT64, ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(Text, server_default=text("'queued'"))
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)
    updated_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class WebhookDelivery(Base):
    """The first answer per Idempotency-Key; the unique key settles concurrent deliveries."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("webhook_deliveries_key_unique", "idempotency_key", unique=True),)

    id: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(Text)
    status: Mapped[int] = mapped_column(INT64)
    answer: Mapped[str] = mapped_column(Text)
    alert_id: Mapped[int | None] = mapped_column(
        INT64, ForeignKey("alerts.id", ondelete="SET NULL")
    )
    created_at: Mapped[str] = mapped_column(Text, server_default=NOW_ISO)


class RateLimit(Base):
    """Requests per key in one clock-aligned window (backend/ratelimit.py)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    window_start: Mapped[int] = mapped_column(INT64, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(INT64)


__all__ = [
    "Alert",
    "Base",
    "Case",
    "ChatMessage",
    "Event",
    "FeedItem",
    "Job",
    "Notification",
    "RateLimit",
    "SearchAnalytic",
    "SessionRow",
    "Share",
    "TrendingTopic",
    "Upload",
    "User",
    "WebhookDelivery",
]
