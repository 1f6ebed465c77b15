"""What Next.js's ``compress: true`` (Node's ``compression``) does to a handler's answer.

A compressible answer (JSON, text) names ``Accept-Encoding`` in ``Vary`` and, when the
request accepts gzip or deflate, goes out compressed (gzip preferred; brotli is never
chosen); answers without a body type (an empty 405), 204/304 and ``HEAD`` answers stay as
they are. Clients decode it transparently, but it is on the wire: bytes sent, and what a
cache keys on.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["NodeCompression", "coding_for", "compressible"]

_CODINGS = ("gzip", "deflate")  # Node's order of preference


def coding_for(accept: str) -> str | None:
    """The coding ``accepts().encoding(["gzip", "deflate", "identity"])`` picks, if any."""
    weights: dict[str, float] = {}
    for part in accept.split(","):
        name, *params = part.strip().split(";")
        weight = 1.0
        for param in params:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if name.strip():
            weights[name.strip().lower()] = weight
    best: tuple[str, float] | None = None
    for coding in _CODINGS:
        weight = weights.get(coding, weights.get("*", 0.0))
        if weight > 0 and (best is None or weight > best[1]):
            best = (coding, weight)
    return best[0] if best else None


def compressible(content_type: str) -> bool:
    """mime-db's ``compressible`` for the types the port answers with."""
    media = content_type.split(";")[0].strip().lower()
    if not media:
        return False
    if media.startswith("text/"):
        return True
    return media.endswith(("+json", "+xml", "/json", "/xml")) or media in {
        "application/javascript",
        "application/x-javascript",
    }


class NodeCompression:
    """Outermost: ``skip(scope)`` names the requests answered as they are (Next.js's own
    short answers, before any handler)."""

    def __init__(self, app: ASGIApp, skip: Callable[[Scope], bool] | None = None) -> None:
        self.app = app
        self.skip = skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "HEAD"
            or (self.skip is not None and self.skip(scope))
        ):
            await self.app(scope, receive, send)
            return
        coding = coding_for(Headers(scope=scope).get("accept-encoding", ""))
        start: Message | None = None
        chunks: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                if message["status"] in (204, 304) or not compressible(
                    headers.get("content-type", "")
                ):
                    await send(message)
                    return
                headers.add_vary_header("Accept-Encoding")
                message = {**message, "headers": headers.raw}
                if (
                    coding is None
                    or "content-encoding" in headers
                    or "no-transform" in headers.get("cache-control", "").lower()
                ):
                    await send(message)
                    return
                start = message
                return
            if start is not None and message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                raw = b"".join(chunks)
                body = gzip.compress(raw, mtime=0) if coding == "gzip" else zlib.compress(raw)
                headers = MutableHeaders(raw=list(start["headers"]))
                headers["content-encoding"] = coding or ""
                headers["content-length"] = str(len(body))
                await send({**start, "headers": headers.raw})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, wrapped)
