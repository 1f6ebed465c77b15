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


@pytest.mark.timeout(900)
def test_ctrl_c_writes_partial_results_and_stops_services(pair_dir: Path, tmp_path: Path) -> None:
    """Waits for events, not for time: the services registered with the reaper, then a second
    operation's cases in the case cache (so the first operation's cases were sent). The old
    version slept 5 s and allowed 60 s for the exit; on a loaded machine the teardown (5 s
    graceful stops, a worker join, full HTML) could take longer. Now the teardown is short
    once interrupted and a watchdog exits within seconds whatever hangs."""
    cfg = make_config(pair_dir)
    # 120 cases an operation: seven more operations still to draw and send when the second
    # one lands in the cache, so the signal always falls mid-run (400 only cost time)
    text = cfg.read_text().replace("[profiles.ci]\npositive = 40", "[profiles.ci]\npositive = 120")
    cfg.write_text(text)
    reports = tmp_path / "reports"
    state = tmp_path / "state"
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
        env={**os.environ, "PARITY_STATE_DIR": str(state)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    services: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 300
        cached: list[Path] = []
        while time.monotonic() < deadline and proc.poll() is None:
            if not services:
                for file in state.glob("run-*.json"):
                    with contextlib.suppress(OSError, ValueError):
                        groups = json.loads(file.read_text()).get("groups", {})
                        if len(groups) >= 2:
                            services = [psutil.Process(int(pid)) for pid in groups]
            cached = list((reports / ".cache" / "cases").glob("*.json"))
            if services and len(cached) >= 2:
                break
            time.sleep(0.05)
        if not services or len(cached) < 2:
            proc.kill()
            out, _ = proc.communicate(timeout=30)
            pytest.fail(f"the run never reached its second operation: {out.decode()[-2000:]}")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
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
    _, alive = psutil.wait_procs(services, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert_no_leftovers(results)
