"""What the legacy receives through the pass-through (aiohttp): the target as the client
wrote it (``%2F`` kept), only the client's headers plus the forwarding ones, no body on a
bodiless GET (not an empty chunked one), a POST body with its own length, and redirects
passed back to the client, not followed. A real HTTP echo server stands for any upstream."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_gateway_e2e import _wait
from tests.servers import ROOT, free_port

pytestmark = [pytest.mark.integration]


class _Echo(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        doc = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": self.rfile.read(n).decode() if n else "",
        }
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("location", "/elsewhere")
        else:
            self.send_response(200)
        out = json.dumps(doc).encode()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[str]:
    echo = ThreadingHTTPServer(("127.0.0.1", free_port()), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    listen = f"127.0.0.1:{free_port()}"
    log = tmp_path / "gateway.log"
    argv = [sys.executable, "-m", "harness", "gateway", "--config", "contracts/parity.toml"]
    argv += ["--legacy-url", f"http://127.0.0.1:{echo.server_port}", "--listen", listen]
    argv += ["--mode", "legacy", "--results", str(tmp_path / "results"), "--quiet"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(f"http://{listen}/health", proc, log)
        yield f"http://{listen}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        echo.shutdown()


def test_what_the_legacy_receives(gateway: str) -> None:
    got = httpx.get(gateway + "/a%2Fb/c?q=%20x&r=1", headers={"authorization": "Bearer t"})
    seen = got.json()
    assert seen["path"] == "/a%2Fb/c?q=%20x&r=1"
    assert seen["headers"]["authorization"] == "Bearer t"
    assert "transfer-encoding" not in seen["headers"]
    assert "content-type" not in seen["headers"]
    assert seen["headers"]["x-forwarded-for"] == "127.0.0.1"
    assert got.headers["x-request-id"] == seen["headers"]["x-request-id"]
    posted = httpx.post(gateway + "/p", json={"a": 1}).json()
    assert posted["body"] == '{"a":1}'
    assert posted["headers"]["content-length"] == "7"
    moved = httpx.get(gateway + "/redirect", follow_redirects=False)
    assert moved.status_code == 302
    assert moved.headers["location"] == "/elsewhere"
