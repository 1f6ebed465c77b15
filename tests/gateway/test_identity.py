"""Caller identity: the user behind a token, once per token, stable across logins."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from harness.errors import HarnessError
from harness.gateway.identity import IdentityResolver, IdentitySource, http_me_fetcher
from harness.gateway.policy import choose


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Me:
    """A "me" operation: tokens -> users, counting calls; a gate to hold answers back."""

    def __init__(self, sessions: dict[str, str]) -> None:
        self.sessions = sessions
        self.calls = 0
        self.gate = asyncio.Event()
        self.gate.set()

    async def __call__(self, headers: Mapping[str, str]) -> Any:
        self.calls += 1
        await self.gate.wait()
        auth = headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if not token and "session=" in headers.get("cookie", ""):
            token = headers["cookie"].split("session=")[1].split(";")[0]
        user = self.sessions.get(token)
        return None if user is None else {"user": {"id": user, "email": f"{user}@x"}}


def test_me_is_asked_once_per_token_and_cached_with_ttl() -> None:
    clock = Clock()
    me = Me({"t1": "7", "t2": "7", "t3": "8"})
    resolver = IdentityResolver(IdentitySource("me", "user.id", ttl_s=60), me, clock=clock)

    async def go() -> None:
        for _ in range(5):
            assert await resolver.resolve({"Authorization": "Bearer t1"}) == "7"
        assert me.calls == 1
        # a new login of the same user: a new token, the same identity
        assert await resolver.resolve({"authorization": "Bearer t2"}) == "7"
        assert await resolver.resolve({"Cookie": "theme=dark; session=t3"}) == "8"
        assert me.calls == 3
        clock.now = 61
        assert await resolver.resolve({"Authorization": "Bearer t1"}) == "7"
        assert me.calls == 4  # expired, asked again

    asyncio.run(go())


def test_concurrent_requests_with_a_new_token_share_one_lookup() -> None:
    me = Me({"t1": "42"})
    resolver = IdentityResolver(IdentitySource("me", "id"), me)

    async def go() -> list[str | None]:
        me.gate.clear()
        tasks = [
            asyncio.create_task(resolver.resolve({"Authorization": "Bearer t1"})) for _ in range(20)
        ]
        while me.calls == 0:
            await asyncio.sleep(0)
        me.gate.set()
        return list(await asyncio.gather(*tasks))

    # "id" is not at the top of {"user": {...}}: the one-object envelope is looked into
    assert asyncio.run(go()) == ["42"] * 20
    assert me.calls == 1


def test_anonymous_and_refused_tokens_have_no_identity() -> None:
    clock = Clock()
    me = Me({})
    resolver = IdentityResolver(IdentitySource("me", "user.id", negative_ttl_s=5), me, clock=clock)

    async def go() -> None:
        assert await resolver.resolve({}) is None
        assert me.calls == 0
        assert await resolver.resolve({"Authorization": "Bearer nope"}) is None
        assert await resolver.resolve({"Authorization": "Bearer nope"}) is None
        assert me.calls == 1
        clock.now = 6
        assert await resolver.resolve({"Authorization": "Bearer nope"}) is None
        assert me.calls == 2

    asyncio.run(go())


def test_stickiness_across_logins_for_1000_callers() -> None:
    """Each caller logs in three times (three tokens): always the same side."""
    sessions = {f"tok-{u}-{login}": f"user{u}" for u in range(1000) for login in range(3)}
    resolver = IdentityResolver(IdentitySource("me", "user.id"), Me(sessions))

    async def go() -> dict[str, set[str]]:
        sides: dict[str, set[str]] = {}
        for token, user in sessions.items():
            who = await resolver.resolve({"Authorization": f"Bearer {token}"})
            assert who is not None
            sides.setdefault(user, set()).add(choose("canary", 10, who, "GET /api/cases").side)
        return sides

    sides = asyncio.run(go())
    assert all(len(s) == 1 for s in sides.values())
    on_port = sum(1 for s in sides.values() if s == {"port"})
    assert 70 <= on_port <= 130, on_port


def _jwt(claims: dict[str, Any]) -> str:
    def part(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256'})}.{part(claims)}.sig"


def test_claim_header_and_cookie_sources() -> None:
    async def go() -> None:
        claim = IdentityResolver(IdentitySource("claim", "sub"))
        assert await claim.resolve({"Authorization": f"Bearer {_jwt({'sub': 'u9'})}"}) == "u9"
        # an opaque token is never hashed into an identity
        assert await claim.resolve({"Authorization": "Bearer opaque-token"}) is None
        header = IdentityResolver(IdentitySource("header", "X-User-Id"))
        assert await header.resolve({"x-user-id": "abc"}) == "abc"
        assert await header.resolve({}) is None
        cookie = IdentityResolver(IdentitySource("cookie", "uid"))
        assert await cookie.resolve({"Cookie": "a=1; uid=zz"}) == "zz"
        assert await cookie.resolve({"Cookie": "a=1"}) is None

    asyncio.run(go())


def test_bad_sources_are_refused() -> None:
    with pytest.raises(HarnessError, match="not one of"):
        IdentitySource("token", "x")  # type: ignore[arg-type]
    with pytest.raises(HarnessError, match="needs a way"):
        IdentityResolver(IdentitySource("me", "id"))


def test_http_me_fetcher_sends_only_the_credential() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("authorization") == "Bearer good":
            return httpx.Response(200, json={"user": {"id": 3}})
        return httpx.Response(401, json={"error": "no"})

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            fetch = http_me_fetcher(client, "http://legacy/", "/api/auth/me")
            resolver = IdentityResolver(IdentitySource("me", "user.id"), fetch)
            headers = {"Authorization": "Bearer good", "X-Other": "secret-ish"}
            assert await resolver.resolve(headers) == "3"
            assert await resolver.resolve({"Authorization": "Bearer bad"}) is None

    asyncio.run(go())
    assert str(seen[0].url) == "http://legacy/api/auth/me"
    assert "x-other" not in seen[0].headers
