"""``parity run --workers N``: N pairs of services on one machine, sharing one run's work.

The simplest honest design: the parent plans the partition once (so every worker runs the
same plan), starts N ``parity run --shard k/N`` processes (each builds its own snapshot
copies, picks its own ports, runs its own watchers and generation worker), waits, and merges
their results in-process into one run. Processes, not threads: the engine's own loop is
CPU-bound and would share one GIL. The gain is bounded by the machine's cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.proc import signals
from harness.proc.reaper import REAPER
from harness.reporting.results import Results, RunError, load_results
from harness.run.engine import Engine
from harness.scale.merge import find_results, merge_results

__all__ = ["WorkerRun", "run_workers"]

STOP_GRACE_S = 60.0


@dataclass
class WorkerRun:
    index: int
    proc: subprocess.Popen[bytes]
    report_dir: Path
    log: Path
    started: float
    code: int | None = None


def _command(engine: Engine, index: int, count: int, plan: Path, report_dir: Path) -> list[str]:
    opts = engine.options
    cmd = [
        sys.executable,
        "-m",
        "harness",
        "run",
        "--config",
        str(opts.config_path),
        "--contract",
        str(opts.contract_path),
        "--profile",
        engine.profile_name,
        "--seed",
        str(engine.seed),
        "--shard",
        f"{index}/{count}",
        "--shard-plan",
        str(plan),
        "--report-dir",
        str(report_dir),
        "--cache-dir",
        str(opts.cache_dir or opts.report_dir / ".cache" / "cases"),
        "-q",
    ]
    for spec in opts.operations:
        cmd += ["--operation", spec]
    for path in opts.traffic:  # each worker replays its part: whole caller sessions
        cmd += ["--traffic", str(path)]
    if opts.keep_going:
        cmd.append("--keep-going")
    return cmd


def _tail(path: Path, lines: int = 15) -> str | None:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:]) or None


def run_workers(
    engine: Engine, count: int, say: Callable[[str], None] = lambda _: None
) -> tuple[Results, Path]:
    """Run ``engine``'s run as ``count`` shards in parallel; the merged results and the run
    folder (the workers' own runs are under ``<run>/workers/``)."""
    t0 = time.monotonic()
    plan = engine.partition(count)  # HarnessError: the caller reports it
    run_dir = engine.run_dir
    workers_dir = run_dir / "workers"
    workers_dir.mkdir(parents=True, exist_ok=False)
    plan_file = workers_dir / "plan.json"
    plan_file.write_text(json.dumps(plan.to_json(), indent=2) + "\n", encoding="utf-8")
    say(
        f"{count} workers (seed {engine.seed}, plan {plan.digest}); expected cost per worker: "
        + ", ".join(f"{c:g}" for c in plan.loads())
    )
    runs: list[WorkerRun] = []
    interrupted = False
    try:
        for index in range(1, count + 1):
            report_dir = workers_dir / f"shard-{index}"
            report_dir.mkdir()
            log = workers_dir / f"shard-{index}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    _command(engine, index, count, plan_file, report_dir),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # the parent decides when a worker stops
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            REAPER.group(proc.pid)
            runs.append(WorkerRun(index, proc, report_dir, log, time.monotonic()))
        pending = list(runs)
        while pending:
            for run in list(pending):
                code = run.proc.poll()
                if code is None:
                    continue
                run.code = code
                pending.remove(run)
                say(
                    f"worker {run.index}/{count} finished (exit {code}, "
                    f"{time.monotonic() - run.started:.1f}s)"
                )
            if pending:
                time.sleep(0.1)
    except KeyboardInterrupt:
        signals.handled()
        interrupted = True
        say("interrupted: stopping the workers (each writes its partial results)")
        for run in runs:
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for run in runs:
            try:
                run.code = run.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(run.proc.pid, signal.SIGKILL)
                run.code = run.proc.wait()
    problems: list[RunError] = []
    shards: list[Results] = []
    for run in runs:
        files = find_results([run.report_dir])
        if not files:
            problems.append(
                RunError.model_validate(
                    {
                        "kind": "harness",
                        "message": f"worker {run.index}/{count} wrote no results "
                        f"(exit {run.code}; see {run.log})",
                        "log_tail": _tail(run.log),
                    }
                )
            )
            continue
        try:
            shards.append(load_results(files[0]))
        except HarnessError as exc:
            problems.append(RunError.model_validate({"kind": "input", "message": exc.message}))
    if interrupted:
        problems.append(
            RunError.model_validate({"kind": "interrupted", "message": "interrupted (Ctrl-C)"})
        )
    results = merge_results(
        shards, run_id=engine.run_id, duration_s=time.monotonic() - t0, problems=problems
    )
    if interrupted:
        results.interrupted = True
    return results, run_dir
