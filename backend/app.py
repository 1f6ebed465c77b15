"""The FastAPI application, answering as the Next.js legacy does (not as FastAPI would)."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import urllib.parse
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import lru_cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.compat import ENCODED_SLASH
from backend.compression import NodeCompression
from backend.errors import ApiError
from backend.jsbehaviour import querystring_reserialize as _node_querystring
from backend.jsonout import JsonResponse
from backend.routers import (
    alerts,
    auth,
    cases,
    chat,
    events,
    export,
    feed,
    health,
    inbox,
    insights,
    jobs,
    realtime,
    search,
    shares,
    trending,
    uploads,
    webhooks,
)

log = logging.getLogger("backend")
RESOURCES = (
    health,
    auth,
    alerts,
    cases,
    shares,
    chat,
    feed,
    search,
    uploads,
    events,
    inbox,
    export,
    trending,
    insights,
    realtime,
    jobs,
    webhooks,
)
ROUTES: list[APIRoute] = [r for m in RESOURCES for r in m.router.routes if isinstance(r, APIRoute)]
CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
KNOWN_METHODS = {*CATCH_ALL_METHODS, "HEAD", "OPTIONS"}


class NextCompat:
    """What Next.js does before or around a route handler, which FastAPI does differently.

    - ``/x/`` answers 308 to ``/x`` (``trailingSlash: false``), query kept, the location as body;
    - ``HEAD`` runs the ``GET`` handler and drops the body;
    - ``OPTIONS`` answers 204 with an ``allow`` header naming the route's methods;
    - methods undici refuses (``TRACE``, ...) fail with a bare 500 before any handler runs.
    """

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @staticmethod
    def answers_itself(scope: Scope) -> bool:
        """Next.js fails these before any handler runs, with a short text it does not
        compress (its length is known and under Node's threshold): an unknown method, a path
        that does not decode."""
        if scope["method"] not in KNOWN_METHODS:
            return True
        raw = _raw_segments(scope)
        return raw is not None and _decode_segments(raw) is None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope["method"]
        raw = _raw_segments(scope)
        if raw is not None:
            decoded = _decode_segments(raw)
            if decoded is None:
                # Next.js: decodeURIComponent throws on the path -> a bare 500
                await _next_500(no_store=True)(scope, receive, send)
                return
            path = decoded
            scope = {**scope, "path": path}
        if method not in KNOWN_METHODS:
            response: Response = _next_500(no_store=False)
        elif len(path) > 1 and path.endswith("/"):
            target = ("/".join(raw) if raw is not None else path).rstrip("/") or "/"
            query = _node_querystring(scope.get("query_string", b"").decode("latin-1"))
            location = target + (f"?{query}" if query else "")
            response = Response(
                content=location,
                status_code=308,
                headers={"location": location, "refresh": f"0;url={location}"},
                media_type=None,
            )
        elif method == "OPTIONS":
            response = Response(status_code=204, headers={"allow": self._allow(scope)})
        elif method in CATCH_ALL_METHODS and not self._route_file_has(path, method):
            # Next.js picks the route file first (static segments beat dynamic ones), then the
            # method: DELETE /api/alerts/count is 405, never /api/alerts/{id} with id "count"
            response = _method_not_allowed()
        elif method == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
            return
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)

    def _route_file_has(self, path: str, method: str) -> bool:
        methods = _route_file_methods(path)
        return methods is None or method in methods  # None: the JSON 404 catch-all answers

    def _allow(self, scope: Scope) -> str:
        # the methods of the one route file Next.js picks (a static segment beats a dynamic
        # one: /api/alerts/count is GET only, never /api/alerts/{id}'s methods too)
        picked = _route_file_methods(scope.get("path", ""))
        methods = set(picked) if picked is not None else set(CATCH_ALL_METHODS)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        return ", ".join(sorted(methods))


@lru_cache(maxsize=4096)
def _route_file_methods(path: str) -> frozenset[str] | None:
    """The methods of the route file Next.js picks for ``path`` (None: no route file). Paths
    repeat (a client asks for the same pages), so each is resolved once."""
    files: dict[str, set[str]] = {}
    for route in ROUTES:
        if route.path_regex.match(path):
            files.setdefault(route.path, set()).update(route.methods or set())
    if not files:
        return None
    return frozenset(files[min(files, key=_specificity)])


_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SINGLE_DOT = {".", "%2e"}
_DOUBLE_DOT = {"..", ".%2e", "%2e.", "%2e%2e"}


def _raw_segments(scope: Scope) -> list[str] | None:
    """The raw path's segments after WHATWG dot-segment resolution, when the path needs
    Next.js's own reading (percent escapes or dot segments); None for an ordinary path."""
    raw_path = scope.get("raw_path")
    if not raw_path:
        return None
    raw = raw_path.decode("latin-1")
    if "%" not in raw and "/." not in raw:
        return None
    segments = raw.split("/")
    out: list[str] = [segments[0]]
    for index, segment in enumerate(segments[1:], start=1):
        last = index == len(segments) - 1
        lowered = segment.lower()
        if lowered in _DOUBLE_DOT:
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        elif lowered in _SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(segment)
    return out


def _decode_segments(segments: list[str]) -> str | None:
    try:
        if any(_BAD_ESCAPE.search(s) for s in segments):
            return None
        decoded = [urllib.parse.unquote(s, errors="strict") for s in segments]
    except UnicodeDecodeError:
        return None
    return "/".join(d.replace("/", ENCODED_SLASH) for d in decoded)


def _specificity(template: str) -> tuple[int, ...]:
    """Next.js route ranking: at the first differing segment, static beats dynamic."""
    return tuple(1 if segment.startswith("{") else 0 for segment in template.split("/"))


def _next_500(*, no_store: bool) -> Response:
    """Next.js's own bare 500: its ETag (of the constant text), Vary, and on a path that
    does not decode its no-store Cache-Control."""
    headers = {"etag": '"66fci67lppl"', "vary": "Accept-Encoding"}
    if no_store:
        headers["cache-control"] = "private, no-cache, no-store, max-age=0, must-revalidate"
    # "text/plain" as Next.js sends it, without the charset Starlette would add
    headers["content-type"] = "text/plain"
    return Response(b"Internal Server Error", 500, headers=headers, media_type=None)


def _without_body(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return wrapped


def _method_not_allowed() -> Response:
    # Next.js: an existing route file without this method's export -> 405, empty body
    return Response(status_code=405)


@asynccontextmanager
async def _job_worker(_app: FastAPI) -> AsyncIterator[None]:
    """Starts the job worker process (``backend.worker``) with the app and stops it with it;
    ``JOBS_WORKER=0`` leaves jobs queued (a restart test)."""
    if os.environ.get("JOBS_WORKER") == "0":
        yield
        return
    # JOBS_WORKER_MODULE: another module serving as the worker (the mutant catalogue's)
    module = os.environ.get("JOBS_WORKER_MODULE") or "backend.worker"
    worker = subprocess.Popen([sys.executable, "-m", module], stdin=subprocess.DEVNULL)
    try:
        yield
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def create_app(wrap: Callable[[ASGIApp], ASGIApp] | None = None) -> ASGIApp:
    """The port; ``wrap`` (the mutant catalogue's hooks) goes around the Next.js emulation,
    inside the compression, so it sees and rewrites answers as they are before encoding."""
    app = FastAPI(
        lifespan=_job_worker,
        title="Ops dashboard API (FastAPI port)",
        docs_url="/_port/docs",
        redoc_url=None,
        openapi_url="/_port/openapi.json",
    )

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return JsonResponse(exc.body(), exc.status, exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JsonResponse({"error": "internal_error", "message": "Internal server error"}, 500)

    # Routes are registered on the app's own router, not included: FastAPI matches an
    # included router by scanning its routes, then scans them again to pick one, once per
    # router and request (a sixth of a list request's time was routing). Flat, each request
    # scans one list once.
    for route in (r for m in RESOURCES for r in m.router.routes):
        if isinstance(route, APIRoute):
            app.add_api_route(
                route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name
            )
        elif isinstance(route, APIWebSocketRoute):
            app.add_api_websocket_route(route.path, route.endpoint, name=route.name)
        else:
            raise TypeError(f"unsupported route {route!r}")

    routes = list(app.router.routes)

    @app.api_route("/api/{rest:path}", methods=CATCH_ALL_METHODS, include_in_schema=False)
    async def not_found(request: Request, rest: str) -> Response:
        del rest
        scope: dict[str, Any] = dict(request.scope)
        if any(route.matches(scope)[0] == Match.PARTIAL for route in routes):
            return _method_not_allowed()
        return JsonResponse({"error": "not_found", "message": "Not found"}, 404)

    compat: ASGIApp = NextCompat(app)
    if wrap is not None:
        compat = wrap(compat)
    return NodeCompression(compat, skip=NextCompat.answers_itself)


app = create_app()
