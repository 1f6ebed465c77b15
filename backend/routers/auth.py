from __future__ import annotations

import secrets
from datetime import timedelta
from email.utils import format_datetime

import bcrypt
from fastapi import APIRouter, Request
from sqlalchemy import delete, func, select

from backend.clock import iso, now
from backend.db import where_text
from backend.deps import SESSION_COOKIE, CallerDep, SessionDep
from backend.errors import ApiError
from backend.jsonout import JsonResponse
from backend.models import SessionRow, User
from backend.ratelimit import hit, login_key, login_limit
from backend.routers._common import parse_body, record_event
from backend.schemas import LOGIN
from backend.serialize import user_json

router = APIRouter()
SESSION_SECONDS = 7 * 24 * 60 * 60


def _check_password(password: str, hashed: str) -> bool:
    try:
        return bcrypt.checkpw(password.encode(), hashed.encode())
    except ValueError:
        return False


@router.post("/api/auth/login")
async def login(request: Request, session: SessionDep) -> JsonResponse:
    body = await parse_body(request, LOGIN)
    email = body["email"]
    hit(session, login_key(email), login_limit())  # per account, every attempt counts
    user = session.scalars(
        select(User).where(where_text(session, func.lower(User.email) == func.lower(email), email))
    ).first()
    if user is None or not _check_password(body["password"], user.password_hash):
        raise ApiError("invalid_credentials", "Invalid email or password")
    token = secrets.token_hex(32)
    moment = now()
    expires_at = iso(moment + timedelta(seconds=SESSION_SECONDS))
    row = SessionRow(token=token, user_id=user.id, expires_at=expires_at)
    session.add(row)
    session.flush()
    record_event(session, "auth.login", "session", row.id, user.id, {}, None)
    session.commit()
    cookie_expires = format_datetime(
        (moment + timedelta(seconds=SESSION_SECONDS)).replace(microsecond=0), usegmt=True
    )
    response = JsonResponse({"token": token, "expiresAt": expires_at, "user": user_json(user)})
    response.headers["set-cookie"] = (
        f"{SESSION_COOKIE}={token}; Path=/; Expires={cookie_expires}; "
        f"Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=lax"
    )
    return response


@router.post("/api/auth/logout")
async def logout(caller: CallerDep, session: SessionDep) -> JsonResponse:
    row = session.scalars(select(SessionRow).where(SessionRow.token == caller.token)).first()
    session.execute(delete(SessionRow).where(SessionRow.token == caller.token))
    record_event(
        session, "auth.logout", "session", row.id if row else None, caller.user.id, {}, None
    )
    session.commit()
    response = JsonResponse({"ok": True})
    response.headers["set-cookie"] = f"{SESSION_COOKIE}=; Path=/; Max-Age=0"
    return response


@router.get("/api/auth/me")
async def me(caller: CallerDep) -> JsonResponse:
    return JsonResponse({"user": user_json(caller.user)})
