"""``python -m harness.bench.shards``: cases per second of ``parity run --workers N``.

Runs the same seeded run with each worker count (the case cache warmed first, so generation
is not what is measured) and prints cases per second beside ``os.cpu_count()``: the gain is
bounded by the cores, and each worker brings its own pair of services.

    python -m harness.bench.shards                       # the fixture pair, workers 1 and 2
    python -m harness.bench.shards --config contracts/parity.toml --profile ci --workers 1,2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["main"]

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "pair"


def _fixture_config(workdir: Path) -> Path:
    """A private copy of the test fixture pair (app, seed, contract, parity.toml)."""
    pair = workdir / "pair"
    shutil.copytree(FIXTURE, pair, ignore=shutil.ignore_patterns("__pycache__"))
    return pair / "parity.toml"


def _run(config: Path, reports: Path, argv: list[str]) -> dict[str, object]:
    # the command a user runs (a benchmark sits below the cli: it never imports it)
    command = ["run", "--config", str(config), "--report-dir", str(reports), "-q", *argv]
    subprocess.run(
        [sys.executable, "-m", "harness", *command], stdout=subprocess.DEVNULL, check=False
    )
    data: dict[str, object] = json.loads((reports / "latest" / "results.json").read_text())
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.shards", description=__doc__)
    parser.add_argument("--config", type=Path, help="parity.toml (default: the fixture pair)")
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma separated")
    parser.add_argument("--repeat", type=int, default=1, help="runs per worker count (best kept)")
    args = parser.parse_args(argv)
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="parity-bench-shards-") as tmp:
        workdir = Path(tmp)
        config = args.config or _fixture_config(workdir)
        reports = workdir / "reports"
        base = ["--profile", args.profile, "--seed", str(args.seed)]
        _run(config, reports, base)  # warm the case cache (and the services' first start)
        print(f"cpu_count={os.cpu_count()}  profile={args.profile}  seed={args.seed}")
        print(f"{'workers':>7}  {'cases':>6}  {'exchanges':>9}  {'wall s':>7}  {'cases/s':>8}")
        rows = []
        for n in counts:
            best: tuple[float, int, int] | None = None
            for _ in range(args.repeat):
                started = time.perf_counter()
                data = _run(config, reports, [*base, "--workers", str(n)])
                wall = time.perf_counter() - started
                ops = data["operations"]
                stats = data["stats"]
                assert isinstance(ops, list)
                assert isinstance(stats, dict)
                cases = sum(int(op["cases"]) for op in ops)
                if best is None or wall < best[0]:
                    best = (wall, cases, int(stats["exchanges"]))
            assert best is not None
            wall, cases, exchanges = best
            rows.append((n, cases / wall))
            print(f"{n:>7}  {cases:>6}  {exchanges:>9}  {wall:>7.2f}  {cases / wall:>8.1f}")
        if len(rows) > 1:
            gain = rows[-1][1] / rows[0][1]
            print(f"speed-up {rows[-1][0]} workers vs {rows[0][0]}: {gain:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
