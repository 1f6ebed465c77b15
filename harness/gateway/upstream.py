"""Forwarding one request: headers cleaned of hop-by-hop fields, ``X-Forwarded-For`` and
``Forwarded`` added, the correlation id passed on; the client's credentials untouched."""

from __future__ import annotations

import aiohttp
import httpx

__all__ = [
    "HOP_BY_HOP",
    "client_for",
    "passthrough_client",
    "response_headers",
    "shadow_client",
    "upstream_headers",
]

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
CORRELATION = "x-request-id"


def _dropped(headers: list[tuple[str, str]]) -> set[str]:
    """Hop-by-hop names, plus every header the Connection header names."""
    named = set(HOP_BY_HOP)
    for k, v in headers:
        if k == "connection":
            named |= {p.strip().lower() for p in v.split(",") if p.strip()}
    return named


def upstream_headers(
    headers: list[tuple[str, str]], client_ip: str | None, host: str | None, cid: str
) -> list[tuple[str, str]]:
    drop = _dropped(headers)
    out = [(k, v) for k, v in headers if k not in drop and k != CORRELATION]
    xff = [v for k, v in out if k == "x-forwarded-for"]
    out = [(k, v) for k, v in out if k != "x-forwarded-for"]
    if client_ip:
        out.append(("x-forwarded-for", ", ".join([*xff, client_ip])))
        fwd = f"for={client_ip}" + (f';host="{host}"' if host else "") + ";proto=http"
        out.append(("forwarded", fwd))
    out.append((CORRELATION, cid))
    return out


def response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    names = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in headers]
    drop = _dropped(names) - {"content-length"}
    return [(k, v) for k, v in headers if k.decode("latin-1").lower() not in drop]


def client_for(base_url: str, timeout_s: float, connections: int) -> httpx.AsyncClient:
    """One pooled keep-alive client per upstream; never follows redirects (the client does)."""
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        follow_redirects=False,
        trust_env=False,
    )


def passthrough_client(timeout_s: float, connections: int) -> aiohttp.ClientSession:
    """The pass-through's pool: aiohttp's client, measured at 3x httpx's throughput at 32
    connections (``harness.bench.gateway_stack``). Bytes as sent (no decompression), no cookie
    jar (a client's cookies are its own), no proxy from the env; requests pass
    ``allow_redirects=False``. Must be made inside the running loop."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        # only what the client sent: no default agent, encodings or body type added
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
    )


def shadow_client(timeout_s: float, per_upstream: int) -> aiohttp.ClientSession:
    """The shadows' pool (the port, the second legacy): aiohttp's client like the
    pass-through, with the client's headers only, so the port reads the request the legacy
    reads; answers inflated (the comparison reads what a client reads). httpx here cost the
    serving loop most of its time at 32 connections (``harness.bench.gateway``, README).
    Must be made inside the running loop."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=2 * per_upstream, limit_per_host=per_upstream, force_close=False
        ),
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        auto_decompress=True,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
    )
