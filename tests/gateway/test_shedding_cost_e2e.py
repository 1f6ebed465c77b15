"""The shedding's cost signal end to end: two fixture upstreams on which the legacy answers
slowly while the port is working (as a port that shares the legacy's cores takes the CPU its
clients wait for): with `[gateway.shed] budget`, a client reading one request at a time sees
the gateway hold shadows back to compare with, measure the cost and step the share of
shadows down (``shed_cost``, counted), and its reads answered faster for it."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_gateway_e2e import TOKEN, _config, _shadows, _start_gateway, _until, _wait
from tests.servers import free_port

pytestmark = [pytest.mark.integration]

BUSY_S = 0.15  # the port's answer time
SLOWED_S = 0.08  # the legacy's while the port works; 0 otherwise


class _Pair(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: _Pair | None) -> None:
        self.port = port
        self.working = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", free_port()), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Pair

    def do_GET(self) -> None:
        me = self.server
        if me.port is None:  # the port: busy for a while
            with me.lock:
                me.working += 1
            time.sleep(BUSY_S)
            with me.lock:
                me.working -= 1
        elif me.port.working:  # the legacy, slowed while the port works
            time.sleep(SLOWED_S)
        out = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def pair() -> Iterator[tuple[_Pair, _Pair]]:
    port = _Pair(None)
    legacy = _Pair(port)
    for server in (legacy, port):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield legacy, port
    finally:
        for server in (legacy, port):
            server.shutdown()
            server.server_close()


def _status(url: str) -> dict[str, Any]:
    got = httpx.get(url + "/_parity/status", headers={"x-parity-token": TOKEN}, timeout=30)
    return dict(got.json())


def test_shadows_that_slow_the_legacy_past_the_budget_are_shed(
    tmp_path: Path, pair: tuple[_Pair, _Pair]
) -> None:
    legacy, port = pair
    listen = f"127.0.0.1:{free_port()}"
    cfg = _config(tmp_path, legacy.url, port.url, listen)
    shed = "shed = { in_flight = 0, latency_factor = 0, window = 16, budget = 0.2, floor = 0.1 }"
    cfg.write_text(cfg.read_text().replace("shed = { enabled = false }", shed))
    gw, log = _start_gateway(cfg, tmp_path)
    url = f"http://{listen}"
    stop = threading.Event()
    reads: list[int] = []

    def client() -> None:  # one request at a time, as a single connection does
        with httpx.Client(timeout=60) as c:
            while not stop.is_set():
                reads.append(c.get(url + "/r").status_code)

    reader = threading.Thread(target=client)
    try:
        _wait(url + "/r", gw, log)
        reader.start()
        _until(lambda: _shadows(url, "shed_cost") > 0, "shadows shed for their cost", log)
        # the share steps down only on a verdict over the budget (the last verdict's cost
        # moves on as the share settles: a share the legacy bears costs less)
        _until(
            lambda: _status(url)["shed"]["share_sent"] <= 0.5,
            "the share of shadows stepped down",
            log,
        )
        status = _status(url)
        assert status["shed"]["cost"] is not None
        assert status["shed"]["shedding"] == "shed_cost"
        assert status["dropped"]["shed_cost"] > 0
        text = httpx.get(url + "/metrics", headers={"x-parity-token": TOKEN}, timeout=30).text
        assert 'outcome="shed_cost"' in text
    finally:
        stop.set()
        reader.join(120)
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(timeout=120)
        finally:
            if gw.poll() is None:
                os.killpg(gw.pid, signal.SIGKILL)
                gw.wait(60)
    assert reads
    assert set(reads) == {200}  # shedding never costs a client its answer
