"""A managed service whose port another process binds first: parity chose a free port, but
a parallel run (a shard, another CI job) took it before the service bound it. The other
listener's answers are not the service's health, and the service, which exits saying the
address is in use, is started again on another free port, said in its log."""

from __future__ import annotations

import http.server
import socket
import sys
import threading
from pathlib import Path

import httpx
import pytest

from harness.pair.services import ManagedService
from harness.setup.config import ServiceConfig

pytestmark = pytest.mark.timing  # process start-up


class _Other(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"not the service"
        self.send_response(200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_port_taken_before_the_service_binds_it_is_chosen_again(tmp_path: Path) -> None:
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    taken = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    config = ServiceConfig(
        command=[sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
        health="/",
        startup_timeout_s=120,
    )
    service = ManagedService("candidate", config, tmp_path, tmp_path / "db", tmp_path / "c.log")
    service.port = taken  # the race, made certain: another process holds the chosen port
    try:
        service.start()
        service.wait_healthy()
        assert service.port != taken
        assert service.alive()
        assert service._listening() is True
        answer = httpx.get(service.base_url + "/", timeout=30)
        assert answer.status_code == 200
        assert b"not the service" not in answer.content  # the directory listing, its own
        log = (tmp_path / "c.log").read_text()
        assert "address already in use" in log.lower()
        assert f"port {taken} was taken by another process" in log
    finally:
        service.stop()
        other.shutdown()
        other.server_close()
    with socket.socket() as sock:  # the service is gone from its new port too
        assert sock.connect_ex(("127.0.0.1", service.port)) != 0


def test_without_a_new_port_a_taken_port_is_an_error_naming_it(tmp_path: Path) -> None:
    """A restart keeps its port (the targets know it): a taken one fails, saying so."""
    from harness.errors import ServiceError

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    config = ServiceConfig(
        command=[sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
        health="/",
        startup_timeout_s=120,
    )
    service = ManagedService("legacy", config, tmp_path, tmp_path / "db", tmp_path / "l.log")
    service.port = other.server_address[1]
    try:
        service.start()
        with pytest.raises(ServiceError, match="exited during startup"):
            service.wait_healthy(new_port=False)
    finally:
        service.stop()
        other.shutdown()
        other.server_close()
