"""How a mutant changes the port without touching ``backend/``.

Four levers, all installed by the launcher before uvicorn serves the app:

- an ASGI wrapper around ``backend.app.create_app()`` that knows which contract operation
  ("METHOD /route/{template}") each request is for, and can rewrite the request body or
  the buffered response (status, headers, body) of matching operations;
- SQLAlchemy ``before_cursor_execute`` listeners (``retval=True``) that rewrite the SQL or
  its parameters, and ``after_cursor_execute`` listeners that add or remove rows in the
  same transaction;
- monkeypatches of names the routers look up at call time;
- a context variable holding the current operation, so SQL hooks and patches fire only
  for the operation the mutant targets (sync endpoints run in a thread that copies it).
"""

from __future__ import annotations

import contextvars
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Engine, event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CURRENT_OP: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "parity_mutant_op", default=None
)

Headers = list[tuple[bytes, bytes]]
ResponseFn = Callable[[int, Headers, bytes], tuple[int, Headers, bytes]]
RequestFn = Callable[[bytes], bytes]
Wrapper = Callable[[ASGIApp], ASGIApp]


# -- which operation is this request? -------------------------------------------------------
def _templates() -> list[tuple[str, set[str], re.Pattern[str]]]:
    from backend.app import ROUTES

    return [(r.path, set(r.methods or ()), r.path_regex) for r in ROUTES]


_ROUTES: list[tuple[str, set[str], re.Pattern[str]]] | None = None


def operation_of(method: str, path: str) -> str | None:
    """``"GET /api/cases/{id}"`` for ``GET /api/cases/7``; None for unknown paths."""
    global _ROUTES
    if _ROUTES is None:
        _ROUTES = _templates()
    for template, methods, regex in _ROUTES:
        if method in methods and regex.match(path):
            return f"{method} {template}"
    return None


class OperationContext:
    """Outermost wrapper: records the request's operation in ``CURRENT_OP``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = CURRENT_OP.set(operation_of(scope["method"], scope.get("path", "")))
        try:
            await self.app(scope, receive, send)
        finally:
            CURRENT_OP.reset(token)


def _matches(scope: Scope, ops: Iterable[str] | None) -> bool:
    if scope["type"] != "http":
        return False
    if ops is None:
        return True
    return operation_of(scope["method"], scope.get("path", "")) in set(ops)


# -- response and request rewriting ---------------------------------------------------------
def rewrite_response(ops: Iterable[str] | None, fn: ResponseFn, when: Any = None) -> Wrapper:
    """Buffer the whole response of matching operations and pass it through ``fn``.

    ``ops`` None matches every request; ``when(scope)`` narrows further.
    """
    targets = None if ops is None else tuple(ops)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if not _matches(scope, targets) or (when is not None and not when(scope)):
                await app(scope, receive, send)
                return
            start: dict[str, Any] = {}
            chunks: list[bytes] = []

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    start.update(message)
                elif message["type"] == "http.response.body":
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        status, headers, body = fn(
                            start["status"], list(start.get("headers", [])), b"".join(chunks)
                        )
                        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
                        headers.append((b"content-length", str(len(body)).encode()))
                        await send({**start, "status": status, "headers": headers})
                        await send({"type": "http.response.body", "body": body})
                else:
                    await send(message)

            await app(scope, receive, capture)

        return wrapped

    return wrap


def rewrite_request(ops: Iterable[str], fn: RequestFn) -> Wrapper:
    """Read the whole request body of matching operations and replace it by ``fn(body)``."""
    targets = tuple(ops)

    def wrap(app: ASGIApp) -> ASGIApp:
        async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
            if not _matches(scope, targets):
                await app(scope, receive, send)
                return
            raw = b""
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                raw += message.get("body", b"")
                if not message.get("more_body", False):
                    break
            body = fn(raw)
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            sent = False

            async def replay() -> Message:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            await app({**scope, "headers": headers}, replay, send)

        return wrapped

    return wrap


def json_body(
    fn: Callable[[int, Any], Any], *, statuses: Iterable[int] | None = None
) -> ResponseFn:
    """A response rewrite over the parsed JSON body (other bodies pass through)."""
    allowed = None if statuses is None else set(statuses)

    def rewrite(status: int, headers: Headers, body: bytes) -> tuple[int, Headers, bytes]:
        if allowed is not None and status not in allowed:
            return status, headers, body
        try:
            data = json.loads(body)
        except ValueError:
            return status, headers, body
        out = fn(status, data)
        return status, headers, dumps(out)

    return rewrite


def json_request(fn: Callable[[Any], Any]) -> RequestFn:
    def rewrite(raw: bytes) -> bytes:
        try:
            data = json.loads(raw)
        except ValueError:
            return raw
        return dumps(fn(data))

    return rewrite


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def set_header(headers: Headers, name: str, value: str | None) -> Headers:
    out = [(k, v) for k, v in headers if k.lower() != name.encode()]
    if value is not None:
        out.append((name.encode(), value.encode("latin-1")))
    return out


# -- SQL hooks ------------------------------------------------------------------------------
SqlRewrite = Callable[[str, Any], tuple[str, Any]]


def on_sql(ops: Iterable[str], fn: SqlRewrite) -> None:
    """Rewrite (statement, parameters) of every statement run while serving ``ops``."""
    targets = set(ops)

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> tuple[str, Any]:
        if CURRENT_OP.get() in targets:
            return fn(statement, parameters)
        return statement, parameters

    event.listen(Engine, "before_cursor_execute", before, retval=True)


def after_sql(ops: Iterable[str], fn: Callable[[Any, str, Any], None]) -> None:
    """Run ``fn(dbapi_cursor_factory, statement, parameters)`` after each matching statement.

    ``fn`` gets a fresh DB-API cursor on the same connection (same transaction), so rows it
    adds or deletes are committed or rolled back with the request's own writes.
    """
    targets = set(ops)

    def after(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        if CURRENT_OP.get() not in targets:
            return
        extra = conn.connection.dbapi_connection.cursor()
        try:
            fn(extra, statement, parameters)
        finally:
            extra.close()

    event.listen(Engine, "after_cursor_execute", after)


def compose(app: ASGIApp, wrappers: Iterable[Wrapper]) -> ASGIApp:
    for wrapper in wrappers:
        app = wrapper(app)
    return app


__all__ = [
    "CURRENT_OP",
    "OperationContext",
    "after_sql",
    "compose",
    "dumps",
    "json_body",
    "json_request",
    "on_sql",
    "operation_of",
    "rewrite_request",
    "rewrite_response",
    "set_header",
]
