"""The audit row every successful write leaves behind."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from backend.db import insert_row
from backend.jsonout import stringify
from backend.models import Event


def record_event(
    session: Session,
    kind: str,
    subject_type: str,
    subject_id: int | None,
    actor_id: int | None,
    payload: Any,
    business_unit: str | None,
) -> None:
    insert_row(
        session,
        Event,
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        actor_id=actor_id,
        payload=stringify(payload),
        business_unit=business_unit,
    )
