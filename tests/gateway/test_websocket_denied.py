"""A WebSocket handshake the legacy refuses reaches the client as the legacy's refusal: its
status, headers (hop-by-hop dropped) and body, through the ASGI WebSocket Denial Response
extension of the gateway's server (uvicorn). A real websockets server on 127.0.0.1 stands
for a legacy that refuses an upgrade without a token and echoes with one; a server without
the extension gets the old close before accepting."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Request, Response
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

from harness.gateway.app import GatewayApp
from harness.gateway.routes import RouteTable
from harness.gateway.writes import WriteCounters
from harness.setup.gateway import GatewayConfig
from tests.gateway.test_gateway_e2e import _wait
from tests.servers import ROOT, free_port

pytestmark = [pytest.mark.integration]

REFUSAL = b'{"error":"unauthorized"}'


def _refuse_without_token(connection: ServerConnection, request: Request) -> Response | None:
    if request.headers.get("authorization") == "Bearer good":
        return None
    headers = Headers(
        [
            ("Content-Type", "application/json"),
            ("WWW-Authenticate", 'Bearer realm="realtime"'),
            ("Connection", "close, x-private"),
            ("X-Private", "hop"),
            ("X-Upstream", "legacy"),
        ]
    )
    return Response(401, "Unauthorized", headers, REFUSAL)


def _echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


@pytest.fixture
def upstream() -> Iterator[int]:
    server = serve(_echo, "127.0.0.1", free_port(), process_request=_refuse_without_token)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.socket.getsockname()[1]
    finally:
        server.shutdown()


@pytest.fixture
def gateway(tmp_path: Path, upstream: int) -> Iterator[str]:
    listen = f"127.0.0.1:{free_port()}"
    log = tmp_path / "gateway.log"
    argv = [sys.executable, "-m", "harness", "gateway", "--config", "contracts/parity.toml"]
    argv += ["--legacy-url", f"http://127.0.0.1:{upstream}", "--listen", listen]
    argv += ["--mode", "legacy", "--results", str(tmp_path / "results"), "--quiet"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(f"http://{listen}/health", proc, log)
        yield listen
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)


def test_a_refused_handshake_reaches_the_client_as_the_legacy_refused_it(gateway: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://{gateway}/api/realtime", open_timeout=30)
    response = refused.value.response
    assert response.status_code == 401  # the legacy's, not the 403 of a close before accept
    assert response.body == REFUSAL
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="realtime"'
    assert response.headers["X-Upstream"] == "legacy"
    assert "X-Private" not in response.headers  # named by the legacy's Connection header
    # with the token the same path is accepted and passed through
    auth = {"Authorization": "Bearer good"}
    with connect(f"ws://{gateway}/api/realtime", additional_headers=auth, open_timeout=30) as ws:
        ws.send("ping")
        assert ws.recv(timeout=30) == "ping"


def _handshake(legacy: str, extensions: dict[str, Any]) -> list[dict[str, Any]]:
    """What the app sends a server for one refused handshake, called as that server would."""
    gw = GatewayConfig(legacy=legacy)
    app = GatewayApp(gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/api/realtime", "headers": [], "extensions": extensions}
    asyncio.run(asyncio.wait_for(app._websocket(scope, receive, send), 60))
    return sent


def test_without_the_extension_a_refusal_is_a_close_and_a_dead_legacy_a_502(upstream: int) -> None:
    closed = _handshake(f"http://127.0.0.1:{upstream}", {})
    assert closed == [{"type": "websocket.close", "code": 1011}]
    dead = _handshake(f"http://127.0.0.1:{free_port()}", {"websocket.http.response": {}})
    assert [m["type"] for m in dead] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert dead[0]["status"] == 502
