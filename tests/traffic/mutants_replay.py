"""The replay-only mutants (``tests.mutants.catalogue.REPLAY_ONLY``), each run twice: its
simulated traffic replayed (``parity run --traffic``) and plain generation (``parity run
--profile ci`` aimed at its operations), each against the unmutated port's same run, so the
table says which catches which.

``python -m tests.traffic.mutants_replay [--requests 400] [--seed 7] [--profile ci]
[--gen-seed 7] [--no-generated] [NAME...]``"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.mutants.catalogue import REPLAY_ONLY, get
from tests.mutants.runner import (
    PARITY,
    ROOT,
    Outcome,
    all_operations,
    detections,
    mutant_config,
    run_parity,
)
from tests.mutants.verify import seeded_database

KEY = "simulated"  # the pseudonym key the capture and the replay share


def replay(config: Path, traffic: Path, report_dir: Path, timeout: float = 1200) -> Outcome:
    """``parity run --traffic`` as a user types it; results read back from ``report_dir``."""
    import json
    import subprocess
    import time

    argv = [*PARITY, "run", "--config", str(config), "--traffic", str(traffic)]
    argv += ["--report-dir", str(report_dir), "-q"]
    env = {**os.environ, "PARITY_TRAFFIC_KEY": KEY}
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    seconds = time.monotonic() - started
    found = sorted(report_dir.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    results = json.loads(found[-1].read_text()) if found else None
    return Outcome(proc.returncode, results, proc.stdout + proc.stderr, seconds)


def first_finding(outcome: Outcome, found: list[dict[str, Any]]) -> str:
    if not found:
        return "-"
    f = found[0]
    return f"{f['operation']} {f['location']} {f['kind']}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", default=sorted(REPLAY_ONLY))
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7, help="the simulator's seed")
    parser.add_argument("--profile", default="ci", help="the generated run's profile")
    parser.add_argument("--gen-seed", type=int, default=7, help="the generated run's seed")
    parser.add_argument("--no-generated", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    from tests.traffic.simulate import capture

    work = args.work or Path(tempfile.mkdtemp(prefix="parity-replay-mutants-"))
    work.mkdir(parents=True, exist_ok=True)
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    traffic = work / "sim.jsonl"
    os.environ["PARITY_TRAFFIC_KEY"] = KEY
    capture(traffic, seed_n=args.seed, requests=args.requests)
    mutants = [get(n) for n in args.names]
    ops = all_operations(mutants)

    def config(name: str | None) -> Path:
        return mutant_config(work, name, snapshot=snapshot, share_cases=True)

    base_replay = replay(config(None), traffic, work / "replay-unmutated")
    base_gen = None
    if not args.no_generated:
        base_gen = run_parity(
            config(None),
            ops,
            profile=args.profile,
            seed=args.gen_seed,
            report_dir=work / "gen-unmutated",
            timeout=1200,
            cache_dir=work / "cases",
        )
    print(
        f"unmutated: replay exit {base_replay.exit_code}, {len(base_replay.findings)} findings, "
        f"{base_replay.seconds:.0f}s"
        + (
            f"; generated exit {base_gen.exit_code}, {len(base_gen.findings)} findings, "
            f"{base_gen.seconds:.0f}s"
            if base_gen
            else ""
        )
    )

    def one(name: str) -> tuple[str, Outcome, Outcome | None]:
        rep = replay(config(name), traffic, work / f"replay-{name}")
        gen = None
        if base_gen is not None:
            gen = run_parity(
                config(name),
                get(name).operations,
                profile=args.profile,
                seed=args.gen_seed,
                report_dir=work / f"gen-{name}",
                timeout=1200,
                cache_dir=work / "cases",
            )
        return name, rep, gen

    with ThreadPoolExecutor(max_workers=2) as pool:
        rows = list(pool.map(one, args.names))
    print(f"{'mutant':34} {'replay':8} {'generated':10} replay's first finding")
    for name, rep, gen in rows:
        mutant = get(name)
        found = detections(rep, mutant, base_replay.keys())
        caught = "yes" if found and rep.exit_code == 1 else f"NO ({rep.exit_code})"
        gen_caught = "-"
        if gen is not None and base_gen is not None:
            hits = detections(gen, mutant, base_gen.keys())
            gen_caught = "yes" if hits and gen.exit_code == 1 else f"NO ({gen.exit_code})"
        print(f"{name:34} {caught:8} {gen_caught:10} {first_finding(rep, found)}")
    print(f"work: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
