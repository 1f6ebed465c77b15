"""``run_tracked``: a child run through it never outlives its caller (the mutant runner, the
bench's wrk), even when the caller dies by SIGKILL and runs no cleanup of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.proc.reaper import run_tracked

SLEEPER = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(600)"
CALLER = (
    "import sys\n"
    "from harness.proc.reaper import run_tracked\n"
    f"run_tracked([sys.executable, '-c', {SLEEPER!r}, sys.argv[1]])\n"
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose; /proc tells the state
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def _wait(predicate: object, deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_returns_the_completed_process() -> None:
    done = run_tracked([sys.executable, "-c", "print('out'); raise SystemExit(3)"], timeout=60)
    assert done.returncode == 3
    assert done.stdout.strip() == "out"


def test_a_timeout_kills_the_child_group(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_tracked([sys.executable, "-c", SLEEPER, str(marker)], timeout=3)
    left = [
        p.pid for p in psutil.process_iter(["cmdline"]) if str(marker) in (p.info["cmdline"] or [])
    ]
    assert left == [], "the timed-out child is still running"


def test_the_child_dies_with_a_sigkilled_caller(tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    env = {**os.environ, "PARITY_STATE_DIR": str(tmp_path / "state")}
    caller = subprocess.Popen(
        [sys.executable, "-c", CALLER, str(marker)],
        env=env,
        start_new_session=True,
    )
    try:
        assert _wait(lambda: marker.exists() and marker.read_text(), 60), "child never started"
        child = int(marker.read_text())
        assert _alive(child)
        # the caller records the child's group right after starting it: kill it only then
        state = tmp_path / "state" / f"run-{caller.pid}.json"
        assert _wait(lambda: state.exists() and str(child) in state.read_text(), 60)
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait(timeout=30)
        # the child is in its own session: only the reaper's watcher can have stopped it
        assert _wait(lambda: not _alive(child), 30), "the tracked child outlived its caller"
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()
        if marker.exists() and _alive(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)


MAKER = (
    "import sys, time\n"
    "from harness.proc.reaper import REAPER\n"
    "made = [REAPER.temporary('parity-t-', '.lua'), REAPER.temporary('parity-d-', directory=True)]\n"
    "(made[1] / 'inside').write_text('x')\n"
    "open(sys.argv[1], 'w').write('\\n'.join(map(str, made)))\n"
    "time.sleep(600)\n"
)


def test_a_temporary_path_is_recorded_before_it_exists_and_removed_after_a_sigkill(
    tmp_path: Path,
) -> None:
    """``REAPER.temporary``: the path is in the state file as soon as it exists (no window in
    which a kill leaves it), and the watcher removes it when its caller is SIGKILLed."""
    marker, temp = tmp_path / "made", tmp_path / "tmp"
    temp.mkdir()
    env = {**os.environ, "PARITY_STATE_DIR": str(tmp_path / "state"), "TMPDIR": str(temp)}
    caller = subprocess.Popen(
        [sys.executable, "-c", MAKER, str(marker)], env=env, start_new_session=True
    )
    try:
        assert _wait(lambda: marker.exists() and marker.read_text(), 60), "nothing made"
        made = [Path(p) for p in marker.read_text().splitlines()]
        assert [p.parent for p in made] == [temp, temp]
        assert made[0].is_file()
        assert made[1].is_dir()
        state = (tmp_path / "state" / f"run-{caller.pid}.json").read_text()
        assert all(str(p) in state for p in made)
        os.kill(caller.pid, signal.SIGKILL)
        caller.wait(timeout=30)
        assert _wait(lambda: not any(p.exists() for p in made), 30), list(temp.iterdir())
    finally:
        if caller.poll() is None:
            caller.kill()
