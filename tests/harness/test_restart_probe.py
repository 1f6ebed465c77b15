"""The durability probe's restart (issue 27): ``Pair.restart_services(crash=True)`` kills one
service's whole process group with SIGKILL (no shutdown handler runs: work held in memory is
lost, as in a crash) and starts it again on the same port and database, healthy; which jobs
get a restart follows the profile's ``restart_jobs`` over the ``[[settle]]`` rule, within the
rule's budget, and never while restarts are held or outside managed mode."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psutil
import pytest

from harness.pair.targets import Pair, Timings
from harness.setup.config import ServiceConfig
from harness.setup.settling import SettleRule

# a service that answers its pid, keeps a child in its process group, and leaves a file
# behind only when it is stopped gracefully (SIGTERM)
SERVICE = """
import os, signal, subprocess, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
def graceful(*_):
    open(os.environ["MARKER"], "w").close()
    child.kill()
    sys.exit(0)
signal.signal(signal.SIGTERM, graceful)
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{os.getpid()} {child.pid}".encode()
        self.send_response(200); self.send_header("content-length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"""


def _pair(tmp_path: Path, services: dict[str, Any] | None = None) -> Pair:
    config = SimpleNamespace(services=services or {}, settle=[], base_dir=tmp_path)
    return Pair(config, "managed", tmp_path, tmp_path, Timings())  # type: ignore[arg-type]


def test_a_crash_restart_kills_the_group_and_comes_back_on_the_same_port(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "stopped-gracefully"
    config = ServiceConfig(
        command=[sys.executable, "-c", SERVICE],
        env={"PORT": "{port}", "MARKER": str(marker)},
        health="/health",
        startup_timeout_s=30,
    )
    pair = _pair(tmp_path, {"candidate": config})
    service = pair.start_service("candidate", config, tmp_path / "db.sqlite")
    try:
        service.wait_healthy()
        port = service.port
        before = [int(p) for p in httpx.get(service.base_url + "/health").text.split()]
        pair.restart_services({}, ("candidate",), crash=True)
        after = pair.services["candidate"]
        assert after is not service
        assert (after.port, after.database) == (port, tmp_path / "db.sqlite")
        now = [int(p) for p in httpx.get(after.base_url + "/health").text.split()]
        assert now[0] != before[0]
        # the old leader and its child are gone, and no shutdown handler ran
        assert not any(psutil.pid_exists(p) and _alive(p) for p in before)
        assert not marker.exists()
        assert pair.restart_time > 0
        # a plain restart stops it gracefully: the handler runs (the marker shows it)
        pair.restart_services({}, ("candidate",))
        assert marker.exists()
    finally:
        pair.close()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


RULE = SettleRule(operation="POST /jobs", restart="candidate", restarts=1)
BOTH = {"legacy": RULE, "candidate": RULE}


@pytest.mark.parametrize(
    ("profile", "rule", "expected"),
    [
        ("rules", RULE, "candidate"),
        ("rules", SettleRule(operation="POST /jobs"), None),
        ("off", RULE, None),
        ("both", SettleRule(operation="POST /jobs"), "both"),
        ("legacy", RULE, "legacy"),
    ],
)
def test_which_side_restarts_follows_the_profile_over_the_rule(
    tmp_path: Path, profile: str, rule: SettleRule, expected: str | None
) -> None:
    pair = _pair(tmp_path)
    pair.restart_jobs = profile
    assert pair._restart_rule(rule, {"legacy": rule, "candidate": rule}).restart == expected


def test_no_restart_once_the_budget_is_used_while_held_or_outside_managed_mode(
    tmp_path: Path,
) -> None:
    pair = _pair(tmp_path)
    assert pair._restart_rule(RULE, BOTH).restart == "candidate"
    with pair.holding_restarts():
        assert pair._restart_rule(RULE, BOTH).restart is None
    assert pair._restart_rule(RULE, {"legacy_aa": RULE, **BOTH}).restart is None
    pair.restarts_used["POST /jobs"] = 1
    assert pair._restart_rule(RULE, BOTH).restart is None
    external = _pair(tmp_path)
    external.mode = "external"
    assert external._restart_rule(RULE, BOTH).restart is None
