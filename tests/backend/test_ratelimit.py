"""Rate limits (issue 27) in the port: login per account, the webhook per signing key,
counted in ``rate_limits`` per clock-aligned window; 429 ``rate_limited`` with Retry-After."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from backend.errors import ApiError
from backend.ratelimit import Limit, hit, window_start
from tests.servers import USERS

pytestmark = pytest.mark.integration

SECRET = "port-test-ratelimit-secret"
LIMITED = {"error": "rate_limited", "message": "Too many requests, retry later"}


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "3")
    monkeypatch.setenv("LOGIN_RATE_LIMIT_WINDOW_S", "3600")
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT", "2")
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT_WINDOW_S", "3600")
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)


def _assert_limited(res: object) -> None:
    assert res.status_code == 429  # type: ignore[attr-defined]
    assert res.json() == LIMITED  # type: ignore[attr-defined]
    retry = int(res.headers["retry-after"])  # type: ignore[attr-defined]
    now = time.time()
    left = math.ceil((window_start(now * 1000, 3600) + 3600) - now)
    assert 1 <= retry <= 3600
    assert abs(retry - left) <= 2, (retry, left)  # until the clock-aligned hour ends


def test_login_is_limited_per_account(client: TestClient, limits: None) -> None:
    email, password = USERS["viewer"]
    wrong = client.post("/api/auth/login", json={"email": email, "password": "wrong"})
    assert wrong.status_code == 401
    for spelled in (email.upper(), email):  # one account, however it is spelled
        assert (
            client.post(
                "/api/auth/login", json={"email": spelled, "password": password}
            ).status_code
            == 200
        )
    _assert_limited(client.post("/api/auth/login", json={"email": email, "password": password}))
    admin = dict(zip(("email", "password"), USERS["admin"], strict=True))
    assert client.post("/api/auth/login", json=admin).status_code == 200


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "x-signature": f"sha256={mac}",
        "x-signature-timestamp": stamp,
    }


def test_webhook_is_limited_per_signing_key(client: TestClient, limits: None) -> None:
    body = json.dumps(
        {"title": "Disk", "message": "full", "severity": "critical", "businessUnit": "retail"}
    ).encode()
    for _ in range(2):
        res = client.post("/api/webhooks/alerts", content=body, headers=_signed(body))
        assert res.status_code == 201, res.text
    _assert_limited(client.post("/api/webhooks/alerts", content=body, headers=_signed(body)))


def test_off_by_default(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOGIN_RATE_LIMIT", raising=False)
    email, password = USERS["agent"]
    for _ in range(6):
        res = client.post("/api/auth/login", json={"email": email, "password": password})
        assert res.status_code == 200


def test_windows_are_aligned_to_the_clock(client: TestClient, db_path: Path) -> None:
    from backend.db import get_engine

    assert window_start(125_000, 60) == 120
    limit = Limit(2, 60)
    with Session(get_engine()) as session:
        # the first request 10 s before a boundary: the window it opens ends at the boundary
        hit(session, "test:aligned", limit, 1_799_999_990_000)
        hit(session, "test:aligned", limit, 1_799_999_995_000)
        with pytest.raises(ApiError) as refused:
            hit(session, "test:aligned", limit, 1_799_999_999_500)
        assert refused.value.status == 429
        assert refused.value.headers == {"retry-after": "1"}  # 0.5 s left, rounded up
        hit(session, "test:aligned", limit, 1_800_000_000_000)  # the next window: afresh
    rows = sqlite3.connect(db_path).execute(
        "SELECT window_start, count FROM rate_limits WHERE key = 'test:aligned'"
    )
    assert rows.fetchall() == [(1_800_000_000, 1)]  # the old window's row is gone
