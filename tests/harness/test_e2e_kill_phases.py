"""SIGKILL and SIGTERM in every phase of a run on the shipped pair, and in ``parity bench``.

Each case starts parity on the legacy (Next.js) and the port (launched as the mutant
catalogue launches it, so one case can serve a drifting port and have findings to shrink),
waits until the reaper's state file says the phase has started (``phase`` and ``step``:
written by ``harness.proc.signals.at`` when the run enters a phase or a step), and kills it at
once. A phase lasts long enough to be caught by a profile that makes it long, never by a
pause: a big case budget (generation), a drifting port with a large shrink budget
(shrinking), an events table of 150 000 rows that every write's diff reads in full
(database diff), many findings to render (report writing).

After SIGKILL: no process carrying the test's mark (the watcher, both services with what
they started, the generation worker, wrk), nothing left in ``TMPDIR``, no ``.partial`` or
``.latest-`` folder, and ``reports/latest`` is the earlier complete report or a complete new
one. After SIGTERM: exit 2 and results naming the phase.

The issue's promise is 5 s from the signal to nothing left (or to the exit). That figure is
a measurement, not an assertion: each case prints it and records it in the JUnit file
(``record_property``: ``gone_s``, ``exit_s``; ``nox -s stress`` keeps one file per round),
and asserts only that it happens before a deadline a loaded machine meets (``DEADLINE_S``:
on a 2-core machine at load 20-30 the SIGTERM exit took 5.4-10.8 s). A failure names the
measured time. Every case is a full parity run on the shipped pair (9-45 s each), so the
module is ``slow`` (tests/conftest.py ``SLOW``); ``tests/harness/test_e2e_kill.py`` keeps
SIGKILL and SIGTERM on the fixture pair in the default set.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.servers import marked_processes

ROOT = Path(__file__).resolve().parents[2]
START_S = 600.0  # generous: both services, the seed and the phase on a loaded 2-core machine
PROMISE_S = 5.0  # the promise, signal to nothing left / to exit: measured, printed
DEADLINE_S = 60.0  # what is asserted: the promise's order of magnitude, met at load 30

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timing,
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not (ROOT / "legacy" / ".next" / "BUILD_ID").is_file(), reason="legacy is not built"
    ),
]

State = dict[str, Any]


@dataclass(frozen=True)
class Phase:
    """How to make one phase last, and how to see that it has started."""

    reached: Callable[[State], bool]
    profile: dict[str, Any] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    mutant: str | None = None
    big_events: bool = False
    says: str = ""  # what the interruption message must contain


def _at(phase: str, step: str | None = None) -> Callable[[State], bool]:
    def reached(state: State) -> bool:
        return state.get("phase") == phase and (step is None or state.get("step") == step)

    return reached


def _base(**extra: Any) -> dict[str, Any]:
    return {
        "require_proof": False,
        "probes": False,
        "realtime": False,
        "interop": False,
        "invariants": False,
        "stateful_sequences": 0,
        "shrink": False,
        **extra,
    }


PHASES: dict[str, Phase] = {
    # 600 cases of a request body with nested fields: the worker draws for seconds
    "generation": Phase(
        _at("stateless", "generation"),
        _base(positive=600, negative=100, cache=False),
        ("--operation", "POST /api/cases"),
        says="phase stateless (generation)",
    ),
    "stateless": Phase(
        lambda s: _at("stateless")(s) and s.get("step") != "generation",
        _base(positive=200, negative=50),
        says="phase stateless",
    ),
    "stateful": Phase(
        _at("stateful"),
        _base(stateless=False, stateful_sequences=200, max_steps=6),
        says="phase stateful",
    ),
    # a created case without a priority differs (body and row): each shrinking attempt is
    # a write whose diff reads the big events table, so the shrink lasts seconds
    "shrinking": Phase(
        _at("shrink"),
        _base(positive=20, negative=0, shrink=True, shrink_budget=400),
        ("--operation", "POST /api/cases"),
        mutant="case-default-priority",
        big_events=True,
        says="phase shrink",
    ),
    "database diff": Phase(
        _at("stateless", "database diff"),
        _base(positive=200, negative=0),
        ("--operation", "POST /api/cases"),
        big_events=True,
        says="(database diff)",
    ),
    "report writing": Phase(
        _at("report writing"),
        _base(positive=60, negative=20),
        ("--operation", "GET /api/alerts", "--operation", "GET /api/alerts/{id}"),
        mutant="alert-field-added",
        says="phase report writing",
    ),
    "bench": Phase(_at("bench load"), says="phase bench load"),
}


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The legacy's seed once; a copy whose events table holds 150 000 rows."""
    if shutil.which("npx") is None or not (ROOT / "legacy" / "node_modules").is_dir():
        pytest.skip("the legacy seed needs `npm ci` in legacy/")
    from tests.servers import seed

    folder = tmp_path_factory.mktemp("kill-snapshots")
    small = folder / "snapshot.db"
    seed(small, "--cases", "80", "--alerts", "60", "--feed", "30")
    big = folder / "big.db"
    shutil.copyfile(small, big)
    with contextlib.closing(sqlite3.connect(big)) as conn:
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150000) "
            "INSERT INTO events (kind, subject_type, subject_id, actor_id, payload, created_at,"
            " business_unit) SELECT 'case.updated', 'case', 1 + i % 80, 1,"
            " '{\"note\": \"history\"}', '2024-01-01T00:00:00.000Z', 'retail' FROM n"
        )
        conn.commit()
    return {"small": small, "big": big}


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kill-cases")


def _state(folder: Path) -> State:
    for file in folder.glob("run-*.json"):
        with contextlib.suppress(OSError, ValueError):
            return dict(json.loads(file.read_text()))
    return {}


@dataclass
class Started:
    proc: subprocess.Popen[bytes]
    mark: str
    state: Path
    tmp: Path
    reports: Path


def _start(
    name: str, phase: Phase, tmp_path: Path, snapshots: dict[str, Path], cache: Path
) -> Started:
    from tests.mutants.runner import mutant_config

    snapshot = snapshots["big" if phase.big_events else "small"]
    config = mutant_config(
        tmp_path, phase.mutant, snapshot=snapshot, extra_profiles={"kill": phase.profile}
    )
    reports = tmp_path / "reports"
    earlier = reports / "latest"  # an earlier complete report: a kill must never spoil it
    earlier.mkdir(parents=True)
    (earlier / "results.json").write_text('{"earlier": true}')
    if name == "bench":
        argv = ["bench", "--config", str(config), "--levels", "1,8", "--seconds", "3"]
        argv += ["--rounds", "3", "--request", "GET /api/alerts", "--report-dir", str(reports)]
    else:
        argv = ["run", "--config", str(config), "--profile", "kill", "--seed", "1", "-q"]
        argv += ["--report-dir", str(reports), "--cache-dir", str(cache), *phase.args]
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
        [sys.executable, "-m", "harness", *argv],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    return Started(proc, mark, state, tmp, reports)


def _wait_for(run: Started, name: str, phase: Phase) -> float:
    """Poll the state file until the phase has started; returns when it was seen."""
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if phase.reached(_state(run.state)):
            return time.monotonic()
        if run.proc.poll() is not None:
            out = run.proc.stdout.read().decode() if run.proc.stdout else ""
            pytest.fail(f"parity ended before {name} started: {out[-3000:]}")
        time.sleep(0.005)  # a poll interval, not a guess: the state file is the event
    pytest.fail(f"{name} never started within {START_S}s: {_state(run.state)}")


def _temporary(tmp: Path) -> list[str]:
    """What is left in the run's TMPDIR, but tsx's compile cache (``tsx-<uid>``: the legacy's
    runtime keeps it across runs, killed or not; not parity's)."""
    return [p.name for p in tmp.iterdir() if not p.name.startswith("tsx-")]


def _kill_leftovers(mark: str) -> None:
    for pid in marked_processes(mark):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _latest_is_whole(reports: Path) -> None:
    latest = reports / "latest"
    assert latest.is_dir(), "the earlier report was lost"
    data = json.loads((latest / "results.json").read_text())
    if not data.get("earlier"):  # a new report: all of it
        for name in ("parity.html", "junit.xml", "summary.md"):
            assert (latest / name).is_file(), list(latest.iterdir())


@pytest.mark.parametrize("name", list(PHASES))
def test_sigkill_in_each_phase_leaves_nothing(
    name: str,
    tmp_path: Path,
    snapshots: dict[str, Path],
    shared_cache: Path,
    record_property: Callable[[str, object], None],
) -> None:
    phase = PHASES[name]
    run = _start(name, phase, tmp_path, snapshots, shared_cache)
    try:
        _wait_for(run, name, phase)
        where = _state(run.state)
        before = marked_processes(run.mark)
        run.proc.kill()
        killed = time.monotonic()
        run.proc.wait(timeout=DEADLINE_S)
        left = marked_processes(run.mark)
        while left and time.monotonic() < killed + DEADLINE_S:
            time.sleep(0.02)  # a poll interval: the event is the last marked process gone
            left = marked_processes(run.mark)
        gone = time.monotonic() - killed
        record_property("gone_s", round(gone, 2))
        said = (
            f"SIGKILL in {name} ({where.get('phase')}/{where.get('step')}): {len(before)}"
            f" processes, gone after {gone:.2f}s (promise {PROMISE_S:.0f}s, deadline {DEADLINE_S:.0f}s)"
        )
        print(said)
        assert not left, (said, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left])
        # the watcher removes the temporary paths after the processes: wait for its exit above
        assert not _temporary(run.tmp), _temporary(run.tmp)
        assert not list(run.state.glob("run-*.json"))
        stray = [
            p.name for p in run.reports.iterdir() if p.name.startswith(".") and p.name != ".cache"
        ]
        assert not stray, stray
        _latest_is_whole(run.reports)
    finally:
        _kill_leftovers(run.mark)


@pytest.mark.parametrize("name", list(PHASES))
def test_sigterm_in_each_phase_exits_2_saying_where(
    name: str,
    tmp_path: Path,
    snapshots: dict[str, Path],
    shared_cache: Path,
    record_property: Callable[[str, object], None],
) -> None:
    phase = PHASES[name]
    run = _start(name, phase, tmp_path, snapshots, shared_cache)
    try:
        _wait_for(run, name, phase)
        run.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            out, _ = run.proc.communicate(timeout=DEADLINE_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"SIGTERM in {name}: no exit within {DEADLINE_S:.0f}s")
        took = time.monotonic() - sent
        record_property("exit_s", round(took, 2))
        text = out.decode()
        said = (
            f"SIGTERM in {name}: exit {run.proc.returncode} after {took:.2f}s"
            f" (promise {PROMISE_S:.0f}s, deadline {DEADLINE_S:.0f}s)"
        )
        print(said)
        assert run.proc.returncode == 2, (said, text[-3000:])
        if name == "bench":
            assert f"interrupted in {phase.says}" in text, text[-3000:]
        elif name != "report writing":
            results = json.loads((run.reports / "latest" / "results.json").read_text())
            assert results["interrupted"] is True
            messages = [e["message"] for e in results["errors"] if e["kind"] == "interrupted"]
            assert messages, results["errors"]
            assert phase.says in messages[0], messages
        else:  # the results are what is being written: the message says where it stopped
            assert "interrupted in phase report writing" in text, text[-3000:]
            _latest_is_whole(run.reports)
        deadline = time.monotonic() + DEADLINE_S
        while marked_processes(run.mark) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not marked_processes(run.mark)
        assert not _temporary(run.tmp), _temporary(run.tmp)
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        _kill_leftovers(run.mark)
