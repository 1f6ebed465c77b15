"""The gateway's pieces without services: route resolution, forwarded headers, the token."""

from __future__ import annotations

import asyncio
import queue
from pathlib import Path
from typing import Any

import pytest

from harness.gateway.app import GatewayApp
from harness.gateway.routes import Request, RouteTable, resolve_mode
from harness.gateway.upstream import response_headers, upstream_headers
from harness.gateway.writes import WriteCounters
from harness.setup.contract import load_contract
from harness.setup.gateway import GatewayConfig

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"


def test_routes_operation_first_then_path_glob_then_default() -> None:
    gw = GatewayConfig(
        routes={"GET /api/cases/{id}": "shadow", "/api/alerts*": {"mode": "shadow"}},
        default_mode="legacy",
    )
    table = RouteTable(gw, load_contract(CONTRACT))
    one = table.route("GET", "/api/cases/12")
    assert (one.key, one.mode, one.operation) == ("GET /api/cases/{id}", "shadow", one.operation)
    assert one.operation == "GET /api/cases/{id}"
    assert table.route("GET", "/api/alerts").mode == "shadow"
    assert table.route("GET", "/api/cases").mode == "legacy"
    assert table.route("GET", "/not/in/contract").operation is None
    req = Request("GET", "/api/cases/12", ())
    assert resolve_mode(one, req) == "shadow"


def test_hop_by_hop_dropped_forwarded_added_credentials_kept() -> None:
    headers = [
        ("host", "gw"),
        ("connection", "keep-alive, x-private"),
        ("x-private", "1"),
        ("keep-alive", "timeout=5"),
        ("authorization", "Bearer abc"),
        ("x-forwarded-for", "10.0.0.1"),
        ("x-request-id", "client-id"),
    ]
    out = dict(upstream_headers(headers, "127.0.0.9", "gw", "cid-1"))
    assert "connection" not in out
    assert "x-private" not in out
    assert "keep-alive" not in out
    assert "host" not in out
    assert out["authorization"] == "Bearer abc"
    assert out["x-forwarded-for"] == "10.0.0.1, 127.0.0.9"
    assert out["forwarded"].startswith("for=127.0.0.9")
    assert out["x-request-id"] == "cid-1"
    back = response_headers([(b"Transfer-Encoding", b"chunked"), (b"Content-Type", b"x/y")])
    assert back == [(b"Content-Type", b"x/y")]


def _call(app: GatewayApp, path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": headers}
    asyncio.run(app.admin(scope, receive, send))
    return sent[0]["status"], sent[1]["body"]


@pytest.mark.parametrize("path", ["/metrics", "/_parity/status"])
def test_admin_and_metrics_need_the_token(path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_UNIT_TOKEN", "s3cret")
    gw = GatewayConfig(legacy="http://127.0.0.1:9", token_env="GW_UNIT_TOKEN")
    app = GatewayApp(gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False)
    assert _call(app, path, [])[0] == 401
    assert _call(app, path, [(b"x-parity-token", b"wrong")])[0] == 401
    status, body = _call(app, path, [(b"authorization", b"Bearer s3cret")])
    assert status == 200
    assert b"s3cret" not in body


def test_no_token_configured_refuses_everyone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GW_UNIT_NONE", raising=False)
    gw = GatewayConfig(legacy="http://127.0.0.1:9", token_env="GW_UNIT_NONE")
    app = GatewayApp(gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False)
    assert _call(app, "/metrics", [(b"x-parity-token", b"")])[0] == 401


def test_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    assert main(["gateway", "--config", str(tmp_path / "missing.toml")]) == 2
    cfg = tmp_path / "parity.toml"
    cfg.write_text('[gateway]\nlisten = "127.0.0.1:1"\n')
    assert main(["gateway", "--config", str(cfg)]) == 2
    assert "legacy" in capsys.readouterr().err
    cfg.write_text('[gateway]\nlegacy = "http://127.0.0.1:9"\ndefault_mode = "shadow"\n')
    assert main(["gateway", "--config", str(cfg)]) == 2
    assert "candidate" in capsys.readouterr().err


def test_the_me_lookup_client_is_closed_with_the_lifespan(tmp_path: Path) -> None:
    """The shifter's "me" identity client (``build_shifter``) is open while the gateway
    serves and closed once its lifespan has shut down."""
    from harness.gateway.identity import HttpMeFetcher
    from harness.gateway.shift import build_shifter

    gw = GatewayConfig.model_validate(
        {"legacy": "http://127.0.0.1:9", "routes": {"GET /api/cases": "shadow"}}
    )
    shifter = build_shifter(gw, lambda p: tmp_path / p)
    assert shifter.identity is not None
    fetcher = shifter.identity._fetch_me
    assert isinstance(fetcher, HttpMeFetcher)
    app = GatewayApp(
        gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False, shifter=shifter
    )
    seen: list[str] = []
    states: list[bool] = []

    async def lifespan() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def send(message: dict[str, Any]) -> None:
            seen.append(message["type"])
            states.append(fetcher.client.is_closed)
            if message["type"] == "lifespan.startup.complete":
                await inbox.put({"type": "lifespan.shutdown"})

        await inbox.put({"type": "lifespan.startup"})
        await app({"type": "lifespan"}, inbox.get, send)

    asyncio.run(asyncio.wait_for(lifespan(), 60))
    assert seen == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert states == [False, True]
