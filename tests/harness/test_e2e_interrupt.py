"""Ctrl-C tears everything down, writes partial results and exits 2."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.harness.conftest import assert_no_leftovers, make_config

pytestmark = [pytest.mark.e2e, pytest.mark.timing]
ROOT = Path(__file__).resolve().parents[2]
# requests served by the two services together, health checks aside: the logins and probes
# come to 108; past them the generated cases are being sent (4000 an operation to go)
MID_RUN = 150


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.mark.timeout(900)
def test_ctrl_c_writes_partial_results_and_stops_services(pair_dir: Path, tmp_path: Path) -> None:
    cfg = make_config(pair_dir)
    text = cfg.read_text().replace("[profiles.ci]\npositive = 40", "[profiles.ci]\npositive = 4000")
    cfg.write_text(text)
    reports = tmp_path / "reports"
    requests = tmp_path / "requests.log"  # both fixture services append a line per request
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--config",
            str(cfg),
            "--profile",
            "ci",
            "--report-dir",
            str(reports),
            "-q",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PAIR_REQUEST_LOG": str(requests)},
    )
    services: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(services) < 2:
            time.sleep(0.2)
            if proc.poll() is not None:
                break
            services = []
            try:
                for child in psutil.Process(proc.pid).children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if "app.py" in " ".join(child.cmdline()):
                            services.append(child)
            except psutil.Error:
                break
        if len(services) != 2:
            proc.kill()
            out, _ = proc.communicate(timeout=30)
            pytest.fail(f"services never started: {out.decode()[-2000:]}")
        # mid-run: past the logins and probes, into the generated cases, however slow the
        # machine is (the cases are generated first: minutes on a loaded 2-core machine)
        deadline = time.monotonic() + 600
        while _lines(requests) < MID_RUN and proc.poll() is None:
            if time.monotonic() > deadline:
                pytest.fail(f"the run sent {_lines(requests)} requests in 600 s")
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        for child in services:  # parity was killed: never leave its services behind
            with contextlib.suppress(psutil.Error):
                if child.is_running():
                    child.kill()
    assert proc.returncode == 2, out.decode()
    results = json.loads((reports / "latest" / "results.json").read_text())
    assert results["interrupted"] is True
    assert results["verdict"] == "error"
    assert results["exit_code"] == 2
    assert sum(op["cases"] for op in results["operations"]) > 0  # partial results kept
    _, alive = psutil.wait_procs(services, timeout=5)
    assert not alive, [p.cmdline() for p in alive]
    assert_no_leftovers(results)
