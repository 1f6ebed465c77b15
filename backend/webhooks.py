"""Signed webhooks (legacy/lib/webhooks.ts): an HMAC-SHA256 with ``$WEBHOOK_SECRET`` over
``<timestamp>.<raw body bytes>`` in ``X-Signature: sha256=<hex>``, a five-minute window, and
the ``Idempotency-Key`` header."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time

from starlette.requests import Request

from backend.errors import ApiError, custom_issue

WINDOW_S = 300
_STAMP = re.compile(r"[0-9]{1,12}")


def header(request: Request, name: str) -> str | None:
    """A header as the legacy reads it (fetch ``Headers.get``): repeated values joined with
    ``", "``, so a request carrying two signature headers is judged alike on both sides."""
    values = request.headers.getlist(name)
    return ", ".join(values) if values else None


def verify_signature(request: Request, raw: bytes, now_s: float | None = None) -> None:
    """The signature over the bytes as received (never re-serialized JSON), then the window."""
    secret = os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        raise ApiError("invalid_signature", "Webhook signing is not configured")
    signature = header(request, "x-signature")
    stamp = header(request, "x-signature-timestamp")
    if not signature or not stamp:
        raise ApiError("invalid_signature", "Missing signature")
    if not _STAMP.fullmatch(stamp):
        raise ApiError("invalid_signature", "Invalid signature timestamp")
    mac = hmac.new(secret.encode(), stamp.encode() + b"." + raw, hashlib.sha256)
    expected = b"sha256=" + mac.hexdigest().encode()
    if not hmac.compare_digest(signature.encode("utf-8", "surrogateescape"), expected):
        raise ApiError("invalid_signature", "Invalid signature")
    now = int(time.time() if now_s is None else now_s)
    if abs(now - int(stamp)) > WINDOW_S:
        raise ApiError("invalid_signature", "Signature timestamp outside the 5-minute window")


def idempotency_key(request: Request) -> str | None:
    """The Idempotency-Key header (None: none), 1 to 200 characters."""
    key = header(request, "idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= 200:
        raise custom_issue("Idempotency-Key", "Must be 1 to 200 characters")
    return key


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
