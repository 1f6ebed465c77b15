"""Who a caller is, stably: the key a canary share sticks to.

A session token changes at every login, so hashing it would move a caller between the legacy
and the port at each login. The identity is the user the token belongs to instead: asked once
per token of the contract's "me" operation (or read from a configured JWT claim), or taken
from a header or cookie the deployment already sets. Lookups are cached per token (an LRU
with a TTL, cachetools), and concurrent requests with one new token share a single lookup.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any, Literal

import httpx
from cachetools import TTLCache

from harness.errors import HarnessError

__all__ = [
    "HttpMeFetcher",
    "IdentityResolver",
    "IdentitySource",
    "MeFetcher",
    "credential_of",
    "http_me_fetcher",
]

IdentityKind = Literal["me", "claim", "header", "cookie"]

#: Asks the "me" operation with the caller's credential headers; the parsed JSON, or None
#: when the credential is refused (an anonymous caller has no identity).
MeFetcher = Callable[[Mapping[str, str]], Awaitable[Any]]


@dataclass(frozen=True)
class IdentitySource:
    """Where the identity comes from.

    ``me``: ``path`` is the "me" operation, ``name`` the dotted field of its answer
    (``user.id``). ``claim``: ``name`` is a claim of a JWT bearer token (``sub``).
    ``header`` / ``cookie``: ``name`` is a header or cookie that carries a stable user id.
    ``session_cookie`` is the cookie that carries the session when no bearer token is sent.
    """

    kind: IdentityKind = "me"
    name: str = "id"
    path: str = "/api/auth/me"
    session_cookie: str = "session"
    ttl_s: float = 300.0
    negative_ttl_s: float = 5.0
    max_entries: int = 100_000

    def __post_init__(self) -> None:
        if self.kind not in ("me", "claim", "header", "cookie"):
            raise HarnessError(
                f"gateway identity: kind {self.kind!r} is not one of me, claim, header, cookie"
            )
        if not self.name:
            raise HarnessError("gateway identity: `name` is empty (a field, claim, header, cookie)")
        if self.ttl_s <= 0 or self.max_entries <= 0:
            raise HarnessError("gateway identity: ttl_s and max_entries must be positive")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _cookie(headers: Mapping[str, str], name: str) -> str | None:
    raw = _header(headers, "cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(name)
    return morsel.value if morsel is not None and morsel.value else None


def credential_of(headers: Mapping[str, str], session_cookie: str = "session") -> str | None:
    """The caller's credential (a bearer token, else the session cookie): the cache key."""
    auth = _header(headers, "authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return _cookie(headers, session_cookie)


def _field(document: Any, dotted: str) -> str | None:
    value = document
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _claim(token: str, claim: str) -> str | None:
    """A claim of an (unverified) JWT: routing only, both services still check the token."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        document = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        return None
    return _field(document, claim)


class IdentityResolver:
    """Caller identity per request; one "me" lookup per token until its TTL runs out.

    The cache key is a digest of the token so the process never keeps credentials in a
    readable table; the identity itself is the user's field, never derived from the token.
    """

    def __init__(
        self,
        source: IdentitySource,
        fetch_me: MeFetcher | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if source.kind == "me" and fetch_me is None:
            raise HarnessError("gateway identity: kind 'me' needs a way to call the me operation")
        self.source = source
        self._fetch_me = fetch_me
        self._known: TTLCache[str, str] = TTLCache(source.max_entries, source.ttl_s, timer=clock)
        self._refused: TTLCache[str, bool] = TTLCache(
            source.max_entries, source.negative_ttl_s, timer=clock
        )
        self._pending: dict[str, asyncio.Future[str | None]] = {}
        self.lookups = 0
        self.hits = 0

    async def aclose(self) -> None:
        """Close what the "me" lookups hold open (an ``HttpMeFetcher``'s client)."""
        close = getattr(self._fetch_me, "aclose", None)
        if close is not None:
            await close()

    async def resolve(self, headers: Mapping[str, str]) -> str | None:
        """The caller's stable identity, or None for an anonymous or refused caller."""
        kind = self.source.kind
        if kind == "header":
            value = _header(headers, self.source.name)
            return value or None
        if kind == "cookie":
            return _cookie(headers, self.source.name)
        token = credential_of(headers, self.source.session_cookie)
        if token is None:
            return None
        if kind == "claim":
            return _claim(token, self.source.name)
        return await self._me(token, headers)

    async def _me(self, token: str, headers: Mapping[str, str]) -> str | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        known = self._known.get(key)
        if known is not None:
            self.hits += 1
            return known
        if key in self._refused:
            self.hits += 1
            return None
        pending = self._pending.get(key)
        if pending is not None:
            self.hits += 1
            return await asyncio.shield(pending)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        try:
            identity = await self._ask(headers)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: waiters re-raise it, nobody logs it twice
            raise
        finally:
            self._pending.pop(key, None)
        if identity is None:
            self._refused[key] = True
        else:
            self._known[key] = identity
        future.set_result(identity)
        return identity

    async def _ask(self, headers: Mapping[str, str]) -> str | None:
        assert self._fetch_me is not None
        self.lookups += 1
        wanted = ("authorization", "cookie")
        only = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
        document = await self._fetch_me(only)
        if document is None:
            return None
        found = _field(document, self.source.name)
        if found is None and isinstance(document, dict):
            # an envelope of one object ({"user": {...}}) is looked into once
            inner = [v for v in document.values() if isinstance(v, dict)]
            if len(inner) == 1:
                found = _field(inner[0], self.source.name)
        return found


class HttpMeFetcher:
    """Asks ``path`` on one upstream (the legacy) with the caller's own credential headers;
    ``aclose`` closes its client (the gateway's lifespan does, at shutdown)."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, path: str) -> None:
        self.client = client
        self.url = base_url.rstrip("/") + path

    async def __call__(self, headers: Mapping[str, str]) -> Any:
        response = await self.client.get(self.url, headers=dict(headers))
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    async def aclose(self) -> None:
        await self.client.aclose()


def http_me_fetcher(client: httpx.AsyncClient, base_url: str, path: str) -> HttpMeFetcher:
    """Ask ``path`` on one upstream (the legacy) with the caller's own credential headers."""
    return HttpMeFetcher(client, base_url, path)
