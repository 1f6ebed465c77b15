"""Annotated dependencies: the database session, the caller, the settings."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from backend.clock import now_iso
from backend.db import Statements, get_session
from backend.errors import forbidden, not_found, unauthorized
from backend.models import AuthUser, SessionRow, User
from backend.settings import Settings, get_settings

SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

SESSION_COOKIE = "session"
_BEARER = re.compile(r"^Bearer\s+(.+)$", re.IGNORECASE)
RANK = {"viewer": 0, "agent": 1, "admin": 2}


def token_from(request: Request) -> str | None:
    return token_from_headers(request.headers.get("authorization"), request.headers.get("cookie"))


def token_from_headers(header: str | None, cookie: str | None) -> str | None:
    """The session token: the Bearer header first, then the ``session`` cookie."""
    if header:
        match = _BEARER.match(header.strip())
        if match:
            return match.group(1).strip()
    if cookie:
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == SESSION_COOKIE and "=" in part:
                try:
                    return unquote(value, errors="strict")
                except UnicodeDecodeError:
                    return value
    return None


@dataclass(frozen=True)
class Caller:
    user: AuthUser
    token: str

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    def can_see(self, business_unit: str | None) -> bool:
        return self.is_admin or business_unit == self.user.business_unit

    def visible(self, row: Any, resource: str) -> Any:
        """``row`` when it exists and is in the caller's scope, else the resource's 404 (a
        row of another unit is answered as if it did not exist)."""
        if row is None or not self.can_see(row.business_unit):
            raise not_found(resource)
        return row

    def require(self, minimum: str) -> Caller:
        if RANK.get(self.user.role, -1) < RANK[minimum]:
            raise forbidden()
        return self


# every authenticated request runs this first: built once
_USER_FOR_TOKEN = Statements(
    lambda: (
        select(User.id, User.email, User.name, User.role, User.business_unit, User.created_at)
        .join(SessionRow, SessionRow.user_id == User.id)
        .where(SessionRow.token == bindparam("token"), SessionRow.expires_at > bindparam("now"))
        .limit(1)
    )
)


def user_for_token(session: Session, token: str | None) -> AuthUser | None:
    if not token:
        return None
    row = _USER_FOR_TOKEN.first(session, token=token, now=now_iso())
    if row is None:
        return None
    return AuthUser(row.id, row.email, row.name, row.role, row.business_unit, row.created_at)


async def authenticate(request: Request, session: SessionDep) -> Caller:
    token = token_from(request)
    user = user_for_token(session, token)
    if user is None or token is None:
        raise unauthorized()
    return Caller(user=user, token=token)


CallerDep = Annotated[Caller, Depends(authenticate)]
