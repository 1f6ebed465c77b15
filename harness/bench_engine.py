"""Throughput of the stateless phase against the replay-only rate of the same requests.

    python -m harness.bench_engine [--config contracts/parity.toml] [--profile dev] [--seed 1]

Starts the pair like ``parity run`` (managed mode), replays every generated case through the
full engine (generate, send to both, diff the databases, restore, normalize, compare), then
sends the very same request sequence again with nothing but the transport. The first pass
(cold services, generation overlapped) is reported on its own; then, both services warm,
engine and replay-only passes alternate (``--rounds``), the databases restored after each
replay; a third pass replays with the engine's restores after each write, to show what
undoing every write costs the services themselves. Prints pairs/s of both (best of the
rounds), their ratio (target: the engine keeps >= 70% of the replay-only rate) and where
the engine's time went in the last round.
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

from harness.config import load_config
from harness.contract import load_contract
from harness.engine import Engine, RunOptions
from harness.errors import HarnessError
from harness.models import PreparedRequest

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench_engine")
    parser.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    parser.add_argument("--contract", type=Path)
    parser.add_argument("--profile", default="dev")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operation", action="append", default=[])
    parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("reports"),
        help="its .cache/ holds generated cases that later runs reuse",
    )
    parser.add_argument("--no-cache", action="store_true", help="always generate afresh")
    parser.add_argument("--rounds", type=int, default=2, help="warm engine/replay rounds")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        contract = load_contract(args.contract or config.resolve(config.contract or "openapi.yaml"))
    except HarnessError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="parity-bench-") as tmp:
        options = RunOptions(
            contract_path=args.contract or Path(config.contract or "openapi.yaml"),
            config_path=args.config,
            profile=args.profile,
            seed=args.seed,
            operations=args.operation,
            report_dir=args.report_dir,
        )
        engine = Engine(contract, config, options)
        if args.no_cache:
            engine.profile = engine.profile.model_copy(update={"cache": False})
        engine.run_dir = Path(tmp) / engine.run_id
        engine.run_dir.mkdir(parents=True)
        engine.selected = contract.select(args.operation, config.exclude)
        sent: list[PreparedRequest] = []
        rounds: list[tuple[float, float]] = []  # (engine s, replay s) per round
        restoring_rounds: list[tuple[float, float]] = []  # (send s, restore s) per round
        try:
            with engine._environment():
                engine._login_all()
                engine._open_watchers()
                engine._load_invariants()
                assert engine.transport is not None
                transport = engine.transport
                # round 0: the engine as `parity run` drives it (generation overlapped, cold
                # services); then the same requests replayed once to warm both services up
                started = time.perf_counter()
                for _op, cases in engine.pipelined_cases():
                    for req in cases:
                        engine.exchange(req)
                        sent.append(req)
                first_s = time.perf_counter() - started
                generation_s = engine.timings.generation

                def replay() -> float:
                    started = time.perf_counter()
                    for req in sent:
                        transport.send_pair(req)
                    elapsed = time.perf_counter() - started
                    engine.restore_all()  # the replay's writes must not leak into the next round
                    return elapsed

                def replay_restoring() -> tuple[float, float]:
                    """The replay with the engine's restores after each write: what the
                    services cost when every write is undone (transport s, restore s)."""
                    sending = restoring = 0.0
                    for req in sent:
                        started = time.perf_counter()
                        transport.send_pair(req)
                        sending += time.perf_counter() - started
                        started = time.perf_counter()
                        engine.restore_all()  # nothing to do where nothing was written
                        restoring += time.perf_counter() - started
                    return sending, restoring

                replay()
                for _ in range(max(args.rounds, 1)):
                    engine.timings = type(engine.timings)()
                    started = time.perf_counter()
                    for req in sent:
                        engine.exchange(req)
                    elapsed = time.perf_counter() - started
                    timings = copy.copy(engine.timings)  # before the replay's restore
                    rounds.append((elapsed, replay()))
                    restoring_rounds.append(replay_restoring())
        except HarnessError as exc:
            print(f"error: {exc.message}\n{exc.log_tail or ''}", file=sys.stderr)
            return 2
    t = timings
    n = len(sent)
    harness_s = min(e for e, _ in rounds)
    replay_s = min(r for _, r in rounds)
    harness_rate = n / harness_s if harness_s else 0.0
    replay_rate = n / replay_s if replay_s else 0.0
    gen_rate = engine.gen_stats.drawn / generation_s if generation_s else 0.0
    print(
        f"operations: {len(engine.selected)}  request pairs: {n}  profile: {args.profile}"
        f"  cached operations: {engine.cache_hits}/{len(engine.selected)}"
    )
    print(
        f"first pass, as parity run does it (cold, generation overlapped): "
        f"{n / first_s if first_s else 0.0:8.1f} pairs/s  ({first_s:.2f}s; generation "
        f"{generation_s:.2f}s = {gen_rate:.0f} cases/s drawn)"
    )
    print(f"then {len(rounds)} warm round(s), alternating, best of each:")
    print(f"  engine (stateless phase): {harness_rate:8.1f} pairs/s  ({harness_s:.2f}s)")
    print(f"  replay-only, same requests: {replay_rate:6.1f} pairs/s  ({replay_s:.2f}s)")
    print(
        "  per round engine/replay-only: "
        + ", ".join(f"{(n / e) / (n / r):.0%}" for e, r in rounds if e and r)
    )
    print(f"ratio engine/replay-only: {harness_rate / replay_rate:.0%}  (target >= 70%)")
    send_s, restore_s = min(restoring_rounds)
    print(
        f"  replay with the same restores: sending {send_s:.2f}s + restoring {restore_s:.2f}s"
        f" = {n / (send_s + restore_s):.1f} pairs/s; the services answer "
        f"{send_s / replay_s - 1:+.0%} slower after restores than without"
    )
    harness_s = rounds[-1][0]  # the breakdown is the last round's
    print("share of the engine's wall time (last round):")
    for label, value in (
        ("transport (both targets)", t.transport),
        ("database diff", t.dbdiff),
        ("resets (online backup)", t.reset),
        ("invariants", t.invariants),
        ("normalize + diff", t.compare),
    ):
        print(f"  {label:28s} {value:7.2f}s  {value / harness_s:6.1%}")
    rest = harness_s - (t.transport + t.dbdiff + t.reset + t.invariants + t.compare)
    print(f"  {'other (incl. waiting on generation)':28s} {rest:7.2f}s  {rest / harness_s:6.1%}")
    print(f"restores, all passes: {sum(w.restores for w in engine.watchers.values())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
