"""The issue's traffic measurement: simulate (seeded), reduce, replay the reduced capture on
the managed pair with the unmodified port, and run ``parity run`` on the same pair for its
rate. Prints figures; asserts nothing (not a CI test).

``python -m tests.traffic.measure [--requests 10000] [--seed 11] [--users 7]
[--session-requests 25] [--profile dev] [--coverage] [--full] [--work DIR]`` (``nox -s
traffic-measure -- ...``). ``--full`` also replays the whole capture; ``--coverage`` reduces
with ``--coverage`` (the whole capture replayed under coverage.py first)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.traffic.simulator import ALL_USERS
from tests.mutants.runner import PARITY, ROOT, dump_toml, mutant_config, run_parity
from tests.mutants.verify import seeded_database
from tests.traffic.mutants_replay import KEY, replay
from tests.traffic.simulate import capture


def configs(work: Path, snapshot: Path) -> tuple[Path, Path]:
    """The shipped config on the seeded snapshot with the port itself (``python -m backend``,
    not the mutant launcher): one for ``parity run``, and one for the replay that also names
    the seed's other accounts as roles (``cases = false``: they send no generated cases), so
    each simulated caller replays as itself, never as another unit's user."""
    import tomllib

    base = mutant_config(work, None, snapshot=snapshot)
    data = tomllib.loads(base.read_text())
    candidate = data["services"]["candidate"]
    candidate["name"] = "port"
    candidate["command"] = ["{python}", "-m", "backend"]
    run = work / "parity.run.toml"
    run.write_text(dump_toml(data) + "\n")
    roles = data["auth"]["roles"]
    known = {r.get("body", {}).get("email") for r in roles.values()}
    for email, password, _ in ALL_USERS:
        if email not in known:
            name = email.split("@")[0].replace(".", "_")
            roles[name] = {"body": {"email": email, "password": password}, "cases": False}
    replay = work / "parity.replay.toml"
    replay.write_text(dump_toml(data) + "\n")
    return replay, run


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) - 1  # the header record


def _replayed(label: str, outcome: Any) -> dict[str, Any]:
    results = outcome.results or {}
    figures = (results.get("traffic") or {}).get("figures") or {}
    drift = [w for w in results.get("warnings", []) if "environment drift" in w]
    row = {
        "run": label,
        "exit": outcome.exit_code,
        "verdict": results.get("verdict"),
        "findings": len(results.get("findings", [])),
        "requests": figures.get("requests"),
        "pairs_per_s": figures.get("pairs_per_s"),
        "wall_s": round(outcome.seconds, 1),
        "environment_drift": figures.get("environment_drift"),
        "not_found_both": figures.get("not_found_both"),
        "drift_warnings": drift,
    }
    if outcome.exit_code == 2 or not results:
        row["output"] = outcome.output[-2000:]
    for f in results.get("findings", [])[:10]:
        print(f"  {label} finding: {f['operation']} {f['location']} {f['kind']}")
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=11, help="the simulator's seed")
    parser.add_argument("--users", type=int, default=7)
    parser.add_argument("--session-requests", type=int, default=25)
    parser.add_argument("--profile", default="dev", help="the generated run's profile")
    parser.add_argument("--gen-seed", type=int, default=1)
    parser.add_argument("--coverage", action="store_true", help="reduce with --coverage")
    parser.add_argument("--full", action="store_true", help="also replay the whole capture")
    parser.add_argument("--no-generated", action="store_true")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="parity-traffic-measure-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["PARITY_TRAFFIC_KEY"] = KEY
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    config, run_config = configs(work, snapshot)
    full, small = work / "sim.jsonl", work / "reduced.jsonl"
    figures: dict[str, Any] = {"seed": args.seed, "users": args.users}

    started = time.monotonic()
    extra = ("--users", str(args.users), "--session-requests", str(args.session_requests))
    if capture(full, seed_n=args.seed, requests=args.requests, extra=extra) != 0:
        print("simulation failed", file=sys.stderr)
        return 2
    figures["simulated"] = _lines(full)
    figures["subscriptions"] = full.read_text().count('"path":"/api/realtime"')
    figures["simulate_s"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    reduce = [*PARITY, "traffic", "reduce", str(full), "--out", str(small)]
    reduce += ["--config", str(config)] + (["--coverage"] if args.coverage else [])
    proc = subprocess.run(reduce, cwd=ROOT, capture_output=True, text=True, check=False)
    print(proc.stdout.strip(), proc.stderr.strip(), sep="\n")
    if proc.returncode != 0:
        return 2
    figures["reduce_s"] = round(time.monotonic() - started, 1)
    figures["kept"] = _lines(small)
    figures["ratio"] = round(figures["kept"] / figures["simulated"], 3)

    rows = [_replayed("replay (reduced)", replay(config, small, work / "replay-reduced", 3600))]
    if args.full:
        rows.append(_replayed("replay (whole)", replay(config, full, work / "replay-full", 7200)))
    if not args.no_generated:
        gen = run_parity(
            run_config,
            [],
            profile=args.profile,
            seed=args.gen_seed,
            report_dir=work / "generated",
            timeout=3600,
        )
        results = gen.results or {}
        stats = results.get("stats") or {}
        phases = sum((stats.get("timings_s") or {}).values())
        exchanges = stats.get("exchanges", 0)
        rows.append(
            {
                "run": f"parity run --profile {args.profile}",
                "exit": gen.exit_code,
                "verdict": results.get("verdict"),
                "findings": len(results.get("findings", [])),
                "requests": exchanges,
                "pairs_per_s": round(exchanges / phases, 1) if phases else None,
                "wall_s": round(gen.seconds, 1),
                "per_wall_s": round(exchanges / gen.seconds, 1) if gen.seconds else None,
            }
        )
    figures["runs"] = rows
    print(json.dumps(figures, indent=2))
    print(
        f"simulated {figures['simulated']} exchanges (seed {args.seed}, {args.users} users; "
        f"{figures['subscriptions']} of them realtime subscriptions), "
        f"kept {figures['kept']} after reduction ({figures['ratio']:.1%})"
    )
    for row in rows:
        print(
            f"{row['run']:28} exit {row['exit']} {row['findings']} findings, "
            f"{row['requests']} pairs, {row['pairs_per_s']} pairs/s, {row['wall_s']} s wall"
            + (
                f", environment drift {row['environment_drift']}, 404 on both "
                f"{row['not_found_both']}"
                if "environment_drift" in row
                else ""
            )
        )
    (work / "figures.json").write_text(json.dumps(figures, indent=2))
    print(f"work: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
