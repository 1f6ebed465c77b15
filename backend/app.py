"""The FastAPI application, answering as the Next.js legacy does (not as FastAPI would)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backend.errors import ApiError
from backend.jsbehaviour import querystring_reserialize as _node_querystring
from backend.jsonout import JsonResponse
from backend.routers import alerts, auth, cases, feed, health, search, uploads

log = logging.getLogger("backend")
RESOURCES = (health, auth, alerts, cases, feed, search, uploads)
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope["method"]
        if method not in KNOWN_METHODS:
            response: Response = PlainTextResponse("Internal Server Error", 500)
        elif len(path) > 1 and path.endswith("/"):
            target = path.rstrip("/") or "/"
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
        files: dict[str, set[str]] = {}
        for route in ROUTES:
            if route.path_regex.match(path):
                files.setdefault(route.path, set()).update(route.methods or set())
        if not files:
            return True  # the JSON 404 catch-all answers every method
        chosen = min(files, key=_specificity)
        return method in files[chosen]

    def _allow(self, scope: Scope) -> str:
        path = scope.get("path", "")
        methods: set[str] = set()
        for route in ROUTES:
            if route.path_regex.match(path):
                methods |= route.methods or set()
        if not methods:
            methods = set(CATCH_ALL_METHODS)
        if "GET" in methods:
            methods.add("HEAD")
        methods.add("OPTIONS")
        return ", ".join(sorted(methods))


def _specificity(template: str) -> tuple[int, ...]:
    """Next.js route ranking: at the first differing segment, static beats dynamic."""
    return tuple(1 if segment.startswith("{") else 0 for segment in template.split("/"))


def _without_body(send: Send) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return wrapped


def _method_not_allowed() -> Response:
    # Next.js: an existing route file without this method's export -> 405, empty body
    return Response(status_code=405)


def create_app() -> ASGIApp:
    app = FastAPI(
        title="Ops dashboard API (FastAPI port)",
        docs_url="/_port/docs",
        redoc_url=None,
        openapi_url="/_port/openapi.json",
    )

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> Response:
        return JsonResponse(exc.body(), exc.status)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return JsonResponse({"error": "internal_error", "message": "Internal server error"}, 500)

    for module in RESOURCES:
        app.include_router(module.router)

    routes = list(app.router.routes)

    @app.api_route("/api/{rest:path}", methods=CATCH_ALL_METHODS, include_in_schema=False)
    async def not_found(request: Request, rest: str) -> Response:
        del rest
        scope: dict[str, Any] = dict(request.scope)
        if any(route.matches(scope)[0] == Match.PARTIAL for route in routes):
            return _method_not_allowed()
        return JsonResponse({"error": "not_found", "message": "Not found"}, 404)

    return NextCompat(app)


app = create_app()
