"""The FastAPI application, answering as the Next.js legacy does (not as FastAPI would)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.errors import ApiError
from backend.jsonout import JsonResponse
from backend.routers import alerts, auth, cases, feed, health, search, uploads

log = logging.getLogger("backend")
CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


class TrailingSlashRedirect:
    """Next.js (trailingSlash: false) answers ``/x/`` with 308 to ``/x``, query kept."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] == "http" and len(path) > 1 and path.endswith("/"):
            target = path.rstrip("/") or "/"
            query = scope.get("query_string", b"").decode("latin-1")
            location = target + (f"?{query}" if query else "")
            response = Response(
                content=location,
                status_code=308,
                headers={"location": location, "refresh": f"0;url={location}"},
                media_type=None,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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

    for module in (health, auth, alerts, cases, feed, search, uploads):
        app.include_router(module.router)

    routes = list(app.router.routes)

    @app.api_route("/api/{rest:path}", methods=CATCH_ALL_METHODS, include_in_schema=False)
    async def not_found(request: Request, rest: str) -> Response:
        del rest
        scope: dict[str, Any] = dict(request.scope)
        if any(route.matches(scope)[0] == Match.PARTIAL for route in routes):
            return _method_not_allowed()
        return JsonResponse({"error": "not_found", "message": "Not found"}, 404)

    @app.api_route("/api/{rest:path}", methods=["OPTIONS", "HEAD"], include_in_schema=False)
    async def other_methods(request: Request, rest: str) -> Response:
        del rest
        return _method_not_allowed()

    return TrailingSlashRedirect(app)


app = create_app()
