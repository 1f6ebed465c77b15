"""Load-aware shedding end to end: a gateway in front of two fixture upstreams, the legacy
held on a gate so requests pile up in flight; while more than ``[gateway.shed] in_flight``
wait for it, new shadows are shed and counted (``/metrics``, ``/_parity/status``, the
results); once the legacy answers again, shadows resume. Every wait is for an event."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_gateway_e2e import TOKEN, _config, _shadows, _start_gateway, _until, _wait
from tests.servers import free_port

pytestmark = [pytest.mark.integration]


class _Upstream(ThreadingHTTPServer):
    """Answers every GET with the same JSON; ``/slow`` waits for ``gate`` (legacy only)."""

    daemon_threads = True

    def __init__(self, gated: bool) -> None:
        self.gated = gated
        self.gate = threading.Event()
        self.arrived = 0
        self.changed = threading.Condition()
        super().__init__(("127.0.0.1", free_port()), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class _Handler(BaseHTTPRequestHandler):
    server: _Upstream

    def do_GET(self) -> None:
        up = self.server
        if up.gated and self.path == "/slow":
            with up.changed:
                up.arrived += 1
                up.changed.notify_all()
            assert up.gate.wait(120)
        out = b'{"ok": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def upstreams() -> Iterator[tuple[_Upstream, _Upstream]]:
    legacy, port = _Upstream(gated=True), _Upstream(gated=False)
    for server in (legacy, port):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield legacy, port
    finally:
        legacy.gate.set()
        for server in (legacy, port):
            server.shutdown()
            server.server_close()


def _status(url: str) -> dict[str, Any]:
    got = httpx.get(url + "/_parity/status", headers={"x-parity-token": TOKEN}, timeout=30)
    return dict(got.json())


def test_shadows_shed_while_the_legacy_is_stuck_and_resume_after(
    tmp_path: Path, upstreams: tuple[_Upstream, _Upstream]
) -> None:
    legacy, port = upstreams
    listen = f"127.0.0.1:{free_port()}"
    cfg = _config(tmp_path, legacy.url, port.url, listen)
    # in flight only: the latency rule is fed synthetic times in test_shedding.py
    text = cfg.read_text().replace(
        "shed = { enabled = false }", "shed = { in_flight = 2, latency_factor = 0, budget = 0 }"
    )
    assert "in_flight = 2" in text
    cfg.write_text(text)
    gw, log = _start_gateway(cfg, tmp_path)
    url = f"http://{listen}"
    stuck: list[threading.Thread] = []
    answers: list[int] = []
    try:
        _wait(url + "/fast", gw, log)
        for _ in range(3):
            assert httpx.get(url + "/fast", timeout=60).status_code == 200
        _until(lambda: _status(url)["shadows_in_flight"] == 0, "the first shadows done", log)
        sent = _shadows(url, "sent")
        assert sent >= 4
        assert _shadows(url, "shed_in_flight") == 0

        def call() -> None:
            answers.append(httpx.get(url + "/slow", timeout=120).status_code)

        stuck = [threading.Thread(target=call) for _ in range(3)]
        for thread in stuck:
            thread.start()
        with legacy.changed:  # three requests now wait for the legacy: more than in_flight
            assert legacy.changed.wait_for(lambda: legacy.arrived == 3, 60)
        assert _status(url)["shed"]["legacy_in_flight"] == 3
        for _ in range(2):  # answered by the legacy, but not shadowed
            assert httpx.get(url + "/fast", timeout=60).status_code == 200
        status = _status(url)
        assert status["dropped"]["shed_in_flight"] == 2
        assert status["shed"]["shedding"] == "shed_in_flight"
        assert _shadows(url, "shed_in_flight") == 2

        legacy.gate.set()  # the legacy recovers
        for thread in stuck:
            thread.join(120)
        assert answers == [200, 200, 200]
        _until(lambda: _status(url)["shed"]["legacy_in_flight"] == 0, "the legacy caught up", log)
        _until(lambda: _status(url)["shadows_in_flight"] == 0, "the slow reads' shadows", log)
        sent = _shadows(url, "sent")
        assert httpx.get(url + "/fast", timeout=60).status_code == 200
        _until(lambda: _shadows(url, "sent") == sent + 1, "a shadow sent again", log)
        assert _shadows(url, "shed_in_flight") == 2
        gw.send_signal(signal.SIGTERM)
        assert gw.wait(timeout=120) == 0, log.read_text()[-2000:]
    finally:
        legacy.gate.set()
        for thread in stuck:
            thread.join(120)
        if gw.poll() is None:
            os.killpg(gw.pid, signal.SIGKILL)
            gw.wait(60)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    (route,) = results["gateway"]["routes"]
    assert route["shadows_dropped"] == {"shed_in_flight": 2}
    assert route["eligible"] == route["shadowed"] + 2
    assert route["compared"] == route["shadowed"]
    assert route["agreeing"] == route["compared"]
    coverage = f"{route['shadowed']} of {route['eligible']} requests in shadow mode were shadowed"
    assert any(w.startswith(coverage) for w in results["warnings"]), results["warnings"]
