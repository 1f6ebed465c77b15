"""Runs leave nothing behind: SIGKILL in several phases, SIGTERM/SIGINT, a stale state file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from harness.proc.reaper import clean_stale, start_time
from tests.harness.conftest import make_config
from tests.servers import marked_processes

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 120.0  # generous: a loaded 2-core machine


def _state(folder: Path) -> dict[str, object]:
    for file in folder.glob("run-*.json"):
        try:
            return dict(json.loads(file.read_text()))
        except (OSError, ValueError):
            continue
    return {}


def _start(
    pair_dir: Path, tmp_path: Path, positive: int = 4000
) -> tuple[subprocess.Popen[bytes], str, Path, Path]:
    cfg = make_config(pair_dir)
    text = cfg.read_text().replace(
        "[profiles.ci]\npositive = 40", f"[profiles.ci]\npositive = {positive}"
    )
    cfg.write_text(text)
    mark = uuid.uuid4().hex
    state = tmp_path / "state"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "PARITY_TEST_MARK": mark,
        "PARITY_STATE_DIR": str(state),
        "TMPDIR": str(tmp),
    }
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
            str(tmp_path / "reports"),
            "-q",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return proc, mark, state, tmp


def _wait(what: str, check: object, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        if proc.poll() is not None:
            pytest.fail(
                f"parity ended before {what}: {proc.stdout.read().decode()[-2000:] if proc.stdout else ''}"
            )
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"never reached: {what}")


def _services_up(state: Path) -> bool:
    return len(dict(_state(state).get("groups") or {})) >= 2


def _generating(state: Path) -> bool:
    return bool(dict(_state(state).get("pids") or {}))


@pytest.mark.e2e
@pytest.mark.timing
@pytest.mark.parametrize("phase", ["start-up", "stateless generation"])
def test_sigkill_leaves_no_process_and_no_temporary_file(
    pair_dir: Path, tmp_path: Path, phase: str
) -> None:
    proc, mark, state, tmp = _start(pair_dir, tmp_path)
    try:
        _wait(
            phase,
            (lambda: _services_up(state)) if phase == "start-up" else (lambda: _generating(state)),
            proc,
        )
        before = marked_processes(mark)
        assert len(before) >= 3, before  # parity, the watcher and at least the services
        proc.kill()
        proc.wait(timeout=30)
        killed = time.monotonic()
        left = marked_processes(mark)
        while left and time.monotonic() < killed + DEADLINE_S:
            time.sleep(0.05)
            left = marked_processes(mark)
        print(
            f"{phase}: {len(before)} processes before SIGKILL, all gone after {time.monotonic() - killed:.2f}s"
        )
        assert not left, [
            Path(f"/proc/{p}/cmdline").read_bytes() for p in left if Path(f"/proc/{p}").exists()
        ]
        assert not list(tmp.iterdir()), list(tmp.iterdir())
        assert not list(state.glob("run-*.json"))
    finally:
        for pid in marked_processes(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.e2e
@pytest.mark.timing
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_2_with_partial_results_naming_the_phase(
    pair_dir: Path, tmp_path: Path, sig: signal.Signals
) -> None:
    proc, mark, state, tmp = _start(pair_dir, tmp_path)
    try:
        _wait("generation", lambda: _generating(state), proc)
        sent = time.monotonic()
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=DEADLINE_S)
        print(f"{sig.name}: exit {proc.returncode} after {time.monotonic() - sent:.2f}s")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, out.decode()
    results = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    assert results["interrupted"] is True
    messages = [e["message"] for e in results["errors"] if e["kind"] == "interrupted"]
    assert messages, results["errors"]
    assert "phase " in messages[0], messages
    deadline = time.monotonic() + DEADLINE_S
    while marked_processes(mark) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not marked_processes(mark)
    assert not list(tmp.iterdir())


def test_stale_state_of_a_killed_run_is_cleaned_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PARITY_STATE_DIR", str(state))
    ours = subprocess.Popen(["sleep", "600"], start_new_session=True)
    stranger = subprocess.Popen(["sleep", "600"], start_new_session=True)
    leftover = tmp_path / "parity-run-x"
    leftover.mkdir()
    (leftover / "legacy.db").write_text("x")
    try:
        dead = {"pid": ours.pid, "start": "1"}  # a pid whose start time is not what is recorded
        (state / "run-1.json").write_text(
            json.dumps(
                {
                    "parity": dead,
                    "watcher": dead,
                    "groups": {str(ours.pid): start_time(ours.pid), str(stranger.pid): "1"},
                    "pids": {},
                    "paths": [str(leftover)],
                }
            )
        )
        lines: list[str] = []
        assert clean_stale(lines.append) is not None
        assert len(lines) == 1, lines
        assert "1 process" in lines[0], lines
        assert ours.wait(timeout=DEADLINE_S) == -signal.SIGKILL
        assert stranger.poll() is None  # recorded with another start time: not ours, not touched
        assert not leftover.exists()
        assert not list(state.iterdir())
        assert clean_stale() is None
    finally:
        for p in (ours, stranger):
            p.kill()
            p.wait()
