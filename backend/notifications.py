"""Inbox notifications, created by an assignment or a share."""

from __future__ import annotations

from sqlalchemy.orm import Session

from backend.models import Notification


def notify(
    session: Session, user_id: int, kind: str, case_id: int, actor_id: int, message: str
) -> None:
    session.add(
        Notification(
            user_id=user_id, kind=kind, case_id=case_id, actor_id=actor_id, message=message
        )
    )
