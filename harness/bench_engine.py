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
from harness.pair import Timings

__all__ = ["main"]


def _delta(after: Timings, before: Timings) -> Timings:
    return Timings(**{k: v - getattr(before, k) for k, v in after.__dict__.items()})


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
        contract = load_contract(
            args.contract or config.resolve(config.contract or "openapi.yaml"),
            config.overlay_paths(),
        )
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
            cache=False if args.no_cache else None,
        )
        engine = Engine(contract, config, options)
        engine.run_dir = Path(tmp) / engine.run_id
        engine.run_dir.mkdir(parents=True)
        sent: list[PreparedRequest] = []
        rounds: list[tuple[float, float]] = []  # (engine s, replay s) per round
        restoring_rounds: list[tuple[float, float]] = []  # (send s, restore s) per round
        try:
            with engine.session() as ctx:
                pair = ctx.pair
                transport = pair.transport
                assert transport is not None
                # round 0: the engine as `parity run` drives it (generation overlapped, cold
                # services); then the same requests replayed once to warm both services up
                started = time.perf_counter()
                for _op, cases in ctx.cases.stream(ctx.selected):
                    for req in cases:
                        ctx.exchange(req)
                        sent.append(req)
                first_s = time.perf_counter() - started
                generation_s = ctx.cases.seconds

                def replay() -> float:
                    started = time.perf_counter()
                    for req in sent:
                        transport.send_pair(req)
                    elapsed = time.perf_counter() - started
                    pair.restore()  # the replay's writes must not leak into the next round
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
                        pair.restore()  # nothing to do where nothing was written
                        restoring += time.perf_counter() - started
                    return sending, restoring

                replay()
                for _ in range(max(args.rounds, 1)):
                    before = copy.copy(pair.timings)
                    started = time.perf_counter()
                    for req in sent:
                        ctx.exchange(req)
                    elapsed = time.perf_counter() - started
                    timings = _delta(pair.timings, before)  # before the replay's restore
                    rounds.append((elapsed, replay()))
                    restoring_rounds.append(replay_restoring())
                selected = len(ctx.selected)
                cache_hits = ctx.cases.cache_hits
                drawn = ctx.cases.stats.drawn
                restores = pair.restores
        except HarnessError as exc:
            print(f"error: {exc.message}\n{exc.log_tail or ''}", file=sys.stderr)
            return 2
    t = timings
    n = len(sent)
    harness_s = min(e for e, _ in rounds)
    replay_s = min(r for _, r in rounds)
    harness_rate = n / harness_s if harness_s else 0.0
    replay_rate = n / replay_s if replay_s else 0.0
    gen_rate = drawn / generation_s if generation_s else 0.0
    print(
        f"operations: {selected}  request pairs: {n}  profile: {args.profile}"
        f"  cached operations: {cache_hits}/{selected}"
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
    print(f"restores, all passes: {restores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
