"""Two rules proven on the real pair (real Next.js, the real port, one shared SQLite file).

Unsafe after send: on a route the port serves, a POST that reached the port and then failed
(the connection closed after the body was read) is ambiguous: the client gets a 502 with its
correlation id, it is counted, it is never retried, and the legacy gets no copy.

Raced reads: a shadowed read whose two answers differ because a write landed between them is
re-read on both sides; when the re-read agrees there is no finding (and the same answers not
marked raced are one)."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.gateway.worker import WorkerState
from harness.gateway.writes import WriteCounters
from harness.setup.config import load_config
from tests.gateway.test_canary_e2e import _port
from tests.gateway.test_gateway_e2e import TOKEN, _config, _wait
from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

ROUTE = "POST /api/cases"


class CutAfterBody:
    """In front of the real port: every POST is read to its last byte, then the connection is
    closed without an answer (the port may have applied it; nobody can tell); any other
    request is passed to the port. Runs its own loop in a thread; counts what it cut."""

    def __init__(self, port_url: str) -> None:
        self.port_url = port_url
        self.cut: list[bytes] = []
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self.stopping = asyncio.Event()
        async with httpx.AsyncClient(base_url=self.port_url, trust_env=False) as upstream:
            self.upstream = upstream
            server = await asyncio.start_server(self._connection, "127.0.0.1", self.port)
            self.ready.set()
            async with server:
                await self.stopping.wait()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.split(":", 1)) for x in lines[1:] if ":" in x]
                fields = {k.strip().lower(): v.strip() for k, v in headers}
                body = await reader.readexactly(int(fields.get("content-length", "0")))
                if method == "POST":
                    self.cut.append(body)
                    return  # closed below: the request arrived, no answer leaves
                keep = {k: v for k, v in fields.items() if k not in ("host", "connection")}
                r = await self.upstream.request(method, target, headers=keep, content=body)
                out = [f"HTTP/1.1 {r.status_code} {r.reason_phrase}"]
                skip = ("content-length", "transfer-encoding", "content-encoding", "connection")
                out += [f"{k}: {v}" for k, v in r.headers.multi_items() if k not in skip]
                out.append(f"content-length: {len(r.content)}")
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + r.content)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def __enter__(self) -> CutAfterBody:
        self.thread.start()
        assert self.ready.wait(30), "the wrapper did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)


def _cases(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("select count(*) from cases").fetchone()[0])
    finally:
        conn.close()


@contextmanager
def _gateway(cfg: Path, tmp: Path) -> Iterator[tuple[str, Path]]:
    log = tmp / "gateway.log"
    env = {**os.environ, "GW_TEST_TOKEN": TOKEN, "PARITY_TRAFFIC_KEY": "k" * 32}
    with log.open("wb") as out:
        gw = subprocess.Popen(
            [sys.executable, "-m", "harness", "gateway", "--config", str(cfg)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = "http://" + cfg.read_text().split('listen = "', 2)[-1].split('"', 1)[0]
        _wait(url + "/api/health", gw, log)
        yield url, log
    finally:
        stop(gw)


def test_unsafe_failure_after_send_is_a_502_never_retried(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    seed(db)
    admin = {"x-parity-token": TOKEN}
    out: dict[str, Any] = {}
    with running("legacy", db, tmp_path) as legacy:
        number = free_port()
        port = _port(db, tmp_path, number)
        try:
            with CutAfterBody(f"http://127.0.0.1:{number}") as cutter:
                listen = f"127.0.0.1:{free_port()}"
                cfg = _config(tmp_path, legacy.url, f"http://127.0.0.1:{cutter.port}", listen)
                cfg.write_text(
                    cfg.read_text()
                    + f'\n[gateway.routes]\n"{ROUTE}" = "shadow"\n'
                    + f'\n[gateway.shift]\nstate_file = "{tmp_path / "state.json"}"\n'
                )
                token = legacy.login("agent")
                before = _cases(db)
                with _gateway(cfg, tmp_path) as (url, log), httpx.Client(base_url=url) as c:
                    moved = c.post(
                        "/_parity/shift",
                        headers=admin,
                        json={"route": ROUTE, "mode": "port", "reason": "e2e", "who": "t"},
                    )
                    assert moved.status_code == 200, moved.text
                    sent = c.post(
                        "/api/cases",
                        headers={"authorization": f"Bearer {token}", "x-request-id": "cid-cut-1"},
                        json={
                            "title": "cut after send",
                            "channel": "chat",
                            "category": "billing",
                            "customerName": "Ada",
                        },
                        timeout=60,
                    )
                    out["answer"] = (sent.status_code, sent.json())
                    out["read"] = c.get(
                        "/api/cases", headers={"authorization": f"Bearer {token}"}
                    ).status_code
                    out["routes"] = c.get("/_parity/routes", headers=admin).json()
                out["log"] = log.read_text()
                out["cut"] = list(cutter.cut)
                out["after"] = _cases(db)
        finally:
            stop(port)
    status, body = out["answer"]
    assert status == 502, body
    assert body["correlation_id"] == "cid-cut-1"
    assert "not retried" in body["error"]
    assert len(out["cut"]) == 1, "sent to the port once, never retried"
    assert b"cut after send" in out["cut"][0]
    assert out["after"] == before, "the legacy got no copy (nothing written)"
    assert out["read"] == 200  # GETs pass the wrapper: the port itself is up
    assert out["routes"]["routes"][ROUTE]["ambiguous_errors"] == 1
    assert out["routes"]["routes"][ROUTE]["fallbacks"] == 0
    line = next(json.loads(x) for x in out["log"].splitlines() if '"cid-cut-1"' in x)
    assert line["status"] == 502
    assert "RemoteProtocolError" in line["port_error"]
    written = tmp_path / "results" / "results.json"
    assert written.is_file(), out["log"][-3000:]
    results = json.loads(written.read_text())
    panel = next(r for r in results["gateway"]["routes"] if r["route"] == ROUTE)
    assert panel["ambiguous_errors"] == 1


def _side(r: httpx.Response, t0: float) -> dict[str, Any]:
    return {
        "status": r.status_code,
        "headers": list(r.headers.multi_items()),
        "body": r.content,
        "elapsed_ms": 5.0,
        "window": (t0, t0 + 0.005),
        "decoded": True,
    }


def test_raced_read_that_differs_then_agrees_is_no_finding(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    seed(db)
    with running("legacy", db, tmp_path) as legacy:
        number = free_port()
        port = _port(db, tmp_path, number)
        try:
            port_url = f"http://127.0.0.1:{number}"
            cfg = _config(tmp_path, legacy.url, port_url, f"127.0.0.1:{free_port()}")
            config = load_config(cfg)
            config = config.model_copy(
                update={"gateway": config.gateway.model_copy(update={"capture": None})}
            )
            auth = {"authorization": f"Bearer {legacy.login('agent')}"}
            case = httpx.get(f"{legacy.url}/api/cases", headers=auth).json()["data"][0]["id"]
            path = f"/api/cases/{case}"
            # the legacy read before another client's write, the port's after it: a race
            stale = _side(httpx.get(legacy.url + path, headers=auth), 1.0)
            patched = httpx.patch(legacy.url + path, headers=auth, json={"title": "raced title"})
            assert patched.status_code == 200, patched.text
            fresh = _side(httpx.get(port_url + path, headers=auth), 1.0)
            assert stale["body"] != fresh["body"]

            def job(raced: bool) -> dict[str, Any]:
                return {
                    "kind": "exchange",
                    "route": "GET /api/cases/{id}",
                    "mode": "shadow",
                    "operation": "GET /api/cases/{id}",
                    "method": "GET",
                    "path": path,
                    "query": [],
                    "headers": list(auth.items()),
                    "body": b"",
                    "identity": None,
                    "legacy": stale,
                    "candidate": fresh,
                    "started": 1.0,
                    "capture": False,
                    "legacy_url": legacy.url,
                    "candidate_url": port_url,
                    "raced": raced,
                }

            raced = WorkerState(config, WriteCounters())  # no write in flight during the re-read
            reply = raced.handle(job(raced=True))
            plain = WorkerState(config, WriteCounters())
            control = plain.handle(job(raced=False))
            raced.close()
            plain.close()
        finally:
            stop(port)
    assert reply == {"route": "GET /api/cases/{id}", "result": "raced_cleared"}
    assert list(raced.findings.all_groups()) == []
    stats = raced.routes["GET /api/cases/{id}"]
    assert (stats.raced, stats.raced_cleared, stats.agreeing, stats.differing) == (1, 1, 1, 0)
    # the same two answers, not marked raced, are a finding: the re-read is what cleared it
    assert control is not None
    assert control["result"] == "differ"
    groups = list(plain.findings.all_groups())
    assert any("title" in g.location for g in groups), [g.location for g in groups]
