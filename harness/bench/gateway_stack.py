"""``python -m harness.bench.gateway_stack --legacy-url URL``: which server and which HTTP
client the gateway should run on, measured, never asserted.

Each variant is a pass-through in front of the same legacy: a minimal streaming proxy on
httpx or on aiohttp's client, and the real ``GatewayApp`` (``legacy`` mode), each served by
uvicorn (uvloop + httptools) and by granian (uvloop, one worker). wrk loads one request
directly and through every variant in turn, round after round, so a loaded shared machine
weighs on all alike; the figures are shares of the direct throughput measured in the same
round (ratios, not absolute requests/s). The gateway variant is the real pass-through
(aiohttp since this measurement); granian variants run only where granian is installed."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import queue
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from harness.bench.services import BenchRequest, _tokens, _wrk, load_requests
from harness.errors import HarnessError
from harness.pair.services import free_port
from harness.proc.reaper import REAPER
from harness.setup.config import load_config

__all__ = ["main"]

SKIP = {b"connection", b"keep-alive", b"transfer-encoding", b"host", b"content-length"}
VARIANTS = [
    (server, client)
    for server in ("uvicorn", "granian")
    for client in ("httpx", "aiohttp", "gateway")
    # granian is not a dependency (measured, not kept): pip install granian to compare it
    if server == "uvicorn" or importlib.util.find_spec("granian") is not None
]


class Proxy:
    """A streaming pass-through on one client library (the part of the gateway measured)."""

    def __init__(self, legacy: str, client: str) -> None:
        self.legacy, self.kind = legacy.rstrip("/"), client
        self.client: Any = None

    def _open(self) -> None:
        if self.kind == "httpx":
            self.client = httpx.AsyncClient(
                base_url=self.legacy,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
                trust_env=False,
            )
        else:
            import aiohttp

            self.client = aiohttp.ClientSession(
                self.legacy,
                connector=aiohttp.TCPConnector(limit=256),
                auto_decompress=False,
                trust_env=False,
            )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self.client is None:
            self._open()
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        target = scope["path"] + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() not in SKIP]
        if self.kind == "httpx":
            req = self.client.build_request(scope["method"], target, headers=headers, content=body)
            resp = await self.client.send(req, stream=True)
            out = [(k, v) for k, v in resp.headers.raw if k.lower() not in SKIP]
            await send({"type": "http.response.start", "status": resp.status_code, "headers": out})
            async for chunk in resp.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await resp.aclose()
        else:
            async with self.client.request(
                scope["method"], target, headers=headers, data=body or None
            ) as resp:
                out = [(k, v) for k, v in resp.raw_headers if k.lower() not in SKIP]
                await send({"type": "http.response.start", "status": resp.status, "headers": out})
                async for chunk in resp.content.iter_any():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _app() -> Any:
    """The ASGI app a server imports (``harness.bench.gateway_stack:app``), from the env."""
    legacy = os.environ.get("PARITY_BENCH_LEGACY")
    client = os.environ.get("PARITY_BENCH_CLIENT", "httpx")
    if not legacy:
        return None
    if client != "gateway":
        return Proxy(legacy, client)
    from harness.gateway.app import GatewayApp
    from harness.gateway.routes import RouteTable
    from harness.gateway.writes import WriteCounters
    from harness.setup.gateway import GatewayConfig

    gw = GatewayConfig(legacy=legacy)
    return GatewayApp(gw, RouteTable(gw, None), queue.Queue(1000), WriteCounters(), capture=False)


app = _app()


def _start(server: str, client: str, legacy: str, log: Path) -> tuple[Any, str]:
    port = free_port()
    target = "harness.bench.gateway_stack:app"
    if server == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", target, "--loop", "uvloop", "--http", "httptools"]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
        argv += ["--no-access-log"]
    else:
        argv = [sys.executable, "-m", "granian", "--interface", "asgi", "--loop", "uvloop"]
        argv += ["--workers", "1", "--host", "127.0.0.1", "--port", str(port), "--no-log"]
        argv += [target]
    env = {**os.environ, "PARITY_BENCH_LEGACY": legacy, "PARITY_BENCH_CLIENT": client}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    REAPER.group(proc.pid)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"{server}/{client} exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url + "/api/health", timeout=2)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise HarnessError(f"{server}/{client} did not start in 60 s")


def _stop(proc: Any) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    REAPER.forget(proc.pid)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    config = load_config(args.config)
    requests = {r.name: r for r in load_requests(args.requests)}
    request: BenchRequest = requests[args.request]
    auth = _tokens(config, args.legacy_url).get(request.role or "", "")
    tmp = Path(args.out)
    tmp.mkdir(parents=True, exist_ok=True)
    procs: dict[str, tuple[Any, str]] = {}
    rows: list[dict[str, Any]] = []
    try:
        for server, client in VARIANTS:
            name = f"{server}/{client}"
            procs[name] = _start(server, client, args.legacy_url, tmp / f"{server}-{client}.log")
        for level in [int(x) for x in args.levels.split(",")]:
            shares: dict[str, list[float]] = {name: [] for name in procs}
            p50: dict[str, list[float]] = {name: [] for name in procs}
            bad: dict[str, int] = dict.fromkeys(procs, 0)
            for _proc, url in procs.values():
                _wrk(url + request.path, level, 1, request, auth)  # warm-up
            for _ in range(args.rounds):
                direct = _wrk(args.legacy_url + request.path, level, args.seconds, request, auth)
                for name, (_, url) in procs.items():
                    s = _wrk(url + request.path, level, args.seconds, request, auth)
                    shares[name].append(s.rps / direct.rps if direct.rps else 0.0)
                    p50[name].append(s.p50_ms - direct.p50_ms)
                    bad[name] += s.errors + s.non2xx
            for name in procs:
                row = {
                    "variant": name,
                    "connections": level,
                    "share_of_direct": round(statistics.median(shares[name]), 3),
                    "added_p50_ms": round(statistics.median(p50[name]), 2),
                    "errors": bad[name],  # failed or non-2xx answers: a fast error is no speed
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        for proc, _ in procs.values():
            _stop(proc)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="parity bench gateway-stack", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    p.add_argument("--requests", type=Path, default=Path("contracts/bench.toml"))
    p.add_argument("--request", default="GET /api/auth/me")
    p.add_argument("--legacy-url", required=True)
    p.add_argument("--levels", default="1,32")
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default="reports/bench-gateway-stack")
    args = p.parse_args(argv)
    try:
        rows = run(args)
    except HarnessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(f"{'variant':20} {'conns':>5} {'share of direct':>15} {'added p50 ms':>12} errors")
    for r in rows:
        print(
            f"{r['variant']:20} {r['connections']:>5} {r['share_of_direct']:>15} "
            f"{r['added_p50_ms']:>12} {r['errors']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
