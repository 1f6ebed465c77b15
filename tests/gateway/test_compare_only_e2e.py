"""``parity gateway --compare-only`` behind a mirroring proxy, in front of the shipped pair
(real Next.js, the real port, one shared SQLite file), driven by the traffic simulator.

The mirror is a small proxy in this test doing what NGINX's ``mirror`` directive does (a
real NGINX does it in test_nginx_mirror_e2e.py): the client is answered by the legacy; a copy of every
request goes to the gateway, whose answer is thrown away. The gateway compares the reads
(an agreeing port: no finding; a drift from the mutant catalogue: found with the real
request) and sends no write anywhere (the port's log has none)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from tests.gateway.test_gateway_e2e import _config, _start_port
from tests.gateway.test_unsafe_e2e import _gateway
from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

SKIP = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


class Mirror:
    """An ASGI proxy: answers from the legacy, fires a copy at the mirror sink (not awaited
    by the client, its answer discarded), like NGINX ``mirror`` / Envoy mirror policies."""

    def __init__(self, legacy: str, sink: str) -> None:
        self.legacy_url, self.sink_url = legacy, sink
        self.copies: set[asyncio.Task[Any]] = set()
        self.mirrored = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                self.legacy = httpx.AsyncClient(base_url=self.legacy_url, trust_env=False)
                self.sink = httpx.AsyncClient(base_url=self.sink_url, trust_env=False)
                await send({"type": "lifespan.startup.complete"})
            await asyncio.gather(*self.copies, return_exceptions=True)
            await self.legacy.aclose()
            await self.sink.aclose()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        more = True
        while more:
            msg = await receive()
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
        target = scope["raw_path"].decode() + (
            "?" + scope["query_string"].decode() if scope["query_string"] else ""
        )
        headers = [
            (k.decode(), v.decode()) for k, v in scope["headers"] if k.decode().lower() not in SKIP
        ]
        copy = asyncio.create_task(
            self.sink.request(scope["method"], target, headers=headers, content=body)
        )
        self.copies.add(copy)
        copy.add_done_callback(self.copies.discard)
        self.mirrored += 1
        r = await self.legacy.request(scope["method"], target, headers=headers, content=body)
        out = [(k.encode(), v.encode()) for k, v in r.headers.multi_items() if k not in SKIP]
        out.append((b"content-length", str(len(r.content)).encode()))
        await send({"type": "http.response.start", "status": r.status_code, "headers": out})
        await send({"type": "http.response.body", "body": r.content})


@contextmanager
def mirroring(legacy: str, sink: str) -> Iterator[tuple[str, Mirror]]:
    app = Mirror(legacy, sink)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:  # set once it listens
            assert thread.is_alive(), "the mirror stopped"
            assert time.monotonic() < deadline, "the mirror did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(60)


def compare_only(tmp: Path, seeded: Path, mutant: str) -> dict[str, Any]:
    db = tmp / "shared.db"
    db.write_bytes(seeded.read_bytes())
    out: dict[str, Any] = {}
    with running("legacy", db, tmp) as legacy:
        port_proc, port_url, port_log = _start_port(db, tmp, mutant)
        try:
            cfg = _config(tmp, legacy.url, port_url, f"127.0.0.1:{free_port()}")
            cfg.write_text(cfg.read_text() + "compare_only = true\n")
            with _gateway(cfg, tmp) as (gw_url, log), mirroring(legacy.url, gw_url) as (url, m):
                direct = httpx.get(gw_url + "/api/health")
                out["sink_answer"] = (direct.status_code, direct.content)
                sim = subprocess.run(
                    [
                        *(sys.executable, "-m", "harness.traffic.simulator", "--url", url),
                        *("--seed", "7", "--requests", "120", "--out", str(tmp / "sim.jsonl")),
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert sim.returncode == 0, sim.stderr
                out["mirrored"] = m.mirrored
            out["log"] = log.read_text()
        finally:
            stop(port_proc)
        out["port_log"] = port_log.read_text()
    written = tmp / "results" / "results.json"
    assert written.is_file(), out["log"][-3000:]
    out["results"] = json.loads(written.read_text())
    out["capture"] = [json.loads(x) for x in (tmp / "capture.jsonl").read_text().splitlines()]
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("coseed") / "seed.db"
    seed(path)
    return path


def _open(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in results["findings"] if not f["accepted"]]


def test_compare_only_agreeing_port_is_quiet_and_no_write_is_resent(
    tmp_path: Path, seeded: Path
) -> None:
    out = compare_only(tmp_path, seeded, "")
    assert out["sink_answer"] == (202, b"")  # the mirror is told nothing
    results = out["results"]
    panel = {r["route"]: r for r in results["gateway"]["routes"]}
    compared = sum(r["compared"] for r in panel.values())
    assert compared > 30, panel
    assert _open(results) == [], [(f["operation"], f["summary"]) for f in _open(results)]
    assert all(r["mode"] == "compare-only" for r in panel.values() if r["compared"])
    writes = [
        ln
        for ln in out["port_log"].splitlines()
        if "HTTP/1.1" in ln and any(f'"{m} ' in ln for m in ("POST", "PUT", "PATCH", "DELETE"))
    ]
    assert writes == []  # the port never got a write
    captured = [x for x in out["capture"] if x.get("kind") == "exchange"]
    mirrored_writes = [x for x in captured if x["request"]["method"] != "GET"]
    assert mirrored_writes, "writes are captured for replay"
    assert all(x.get("answer") is None for x in mirrored_writes)


def test_compare_only_finds_a_drift_with_the_real_request(tmp_path: Path, seeded: Path) -> None:
    out = compare_only(tmp_path, seeded, "case-field-dropped")
    hits = [f for f in _open(out["results"]) if f["operation"] == "GET /api/cases/{id}"]
    assert hits, [(f["operation"], f["summary"]) for f in _open(out["results"])]
    step = hits[0]["example"]["steps"][0]
    assert step["request"]["method"] == "GET"
    assert step["request"]["path"].startswith("/api/cases/")
    assert "customerName" in json.dumps(hits[0]["example"]["diff"])
    assert out["results"]["verdict"] == "drift"
