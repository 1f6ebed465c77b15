"""Throughput of the stateless phase against the replay-only rate of the same requests.

    python -m harness.bench.throughput [--config contracts/parity.toml] [--profile dev] [--seed 1]
        [--operation "METHOD /path" ...] [--rounds 2]

Starts the pair like ``parity run`` (managed mode) and replays every generated case through
the full engine (send to both, read the writes, check invariants, restore, normalize and
compare). The first pass (cold services, generation overlapped) is reported on its own; then,
both services warm, engine and replay-only passes alternate (``--rounds``), best of each.

The replay-only pass sends the very same requests **on the same states**: each one on the
baseline, the databases put back after every request that wrote, outside the timed part
(without that, the first logout-like case ends the roles' sessions and every later request
is a cheap 401: a different, lighter workload; that pass is printed too, for reference, with
how many of its answers differ from the engine's). The ratio engine/replay-only is the share
of the services' own rate the engine keeps (target >= 70%); the engine's own cost per pair is
the difference, split by step (database diff, invariants, restore, normalize + compare).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness.errors import HarnessError
from harness.models import PreparedRequest
from harness.pair.targets import Timings
from harness.run.engine import Engine, RunOptions
from harness.setup.config import load_config
from harness.setup.contract import load_contract

__all__ = ["main"]


def _delta(after: Timings, before: Timings) -> Timings:
    return Timings(**{k: v - getattr(before, k) for k, v in after.__dict__.items()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.throughput")
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
        diffs: list[int] = []  # replay answers that differ from the engine's, per round
        plain: list[tuple[float, int, int]] = []  # the replay without restores, per round
        cpu_s: list[float] = []  # this process's CPU seconds per engine pass
        shares: list[float] = []  # per engine pass: its time in transport / its wall time
        replay_cpu_s: list[float] = []  # and per replay pass (sending only)
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

                engine_statuses: list[tuple[int, int]] = []

                def engine_pass() -> tuple[float, Timings]:
                    before = copy.copy(pair.timings)
                    engine_statuses.clear()
                    cpu = time.process_time()
                    started = time.perf_counter()
                    for req in sent:
                        result = ctx.exchange(req)
                        engine_statuses.append((result.legacy.status, result.candidate.status))
                    cpu_s.append(time.process_time() - cpu)
                    return time.perf_counter() - started, _delta(pair.timings, before)

                def replay_same_states() -> tuple[float, int]:
                    """Transport only, each request on the baseline (restores not timed);
                    returns (seconds, answers that differ from the engine pass)."""
                    sending = cpu = 0.0
                    differ = 0
                    for req, seen in zip(sent, engine_statuses, strict=True):
                        started, cpu_started = time.perf_counter(), time.process_time()
                        legacy, candidate = transport.send_pair(req)
                        sending += time.perf_counter() - started
                        cpu += time.process_time() - cpu_started
                        differ += (legacy.status, candidate.status) != seen
                        pair.restore()  # nothing to do where nothing was written
                    replay_cpu_s.append(cpu)
                    return sending, differ

                def replay_without_restores() -> tuple[float, int, int]:
                    """The old baseline: no restores at all (seconds, answers that differ
                    from the engine pass, 401s)."""
                    differ = unauthorized = 0
                    started = time.perf_counter()
                    for req, seen in zip(sent, engine_statuses, strict=True):
                        legacy, candidate = transport.send_pair(req)
                        differ += (legacy.status, candidate.status) != seen
                        unauthorized += legacy.status == 401
                    elapsed = time.perf_counter() - started
                    pair.restore()  # its writes must not leak into the next round
                    return elapsed, differ, unauthorized

                engine_pass()  # warm both services up on the same requests
                for _ in range(max(args.rounds, 1)):
                    elapsed, timings = engine_pass()
                    shares.append(timings.transport / elapsed if elapsed else 0.0)
                    replay_s, differ = replay_same_states()
                    rounds.append((elapsed, replay_s))
                    diffs.append(differ)
                    plain.append(replay_without_restores())
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
        f"  cached operations: {cache_hits}/{selected}  cores: {os.cpu_count()}"
    )
    print(
        f"first pass, as parity run does it (cold, generation overlapped): "
        f"{n / first_s if first_s else 0.0:8.1f} pairs/s  ({first_s:.2f}s; generation "
        f"{generation_s:.2f}s = {gen_rate:.0f} cases/s drawn)"
    )
    print(f"then {len(rounds)} warm round(s), alternating, best of each:")
    print(f"  engine (stateless phase):     {harness_rate:8.1f} pairs/s  ({harness_s:.2f}s)")
    print(
        f"  replay-only, same states:     {replay_rate:8.1f} pairs/s  ({replay_s:.2f}s; "
        f"answers differing from the engine's: {max(diffs)}/{n})"
    )
    print(
        "  per round engine/replay-only: " + ", ".join(f"{r / e:.0%}" for e, r in rounds if e and r)
    )
    paired = sorted(r / e for e, r in rounds if e and r)
    median = statistics.median(paired) if paired else 0.0
    print(
        f"ratio engine/replay-only: {median:.0%} (median of the rounds: each pairs an engine "
        f"pass with the replay right after it; target >= 70%); best of each: "
        f"{harness_rate / replay_rate:.0%}"
    )
    print(
        "  within each engine pass, transport / wall time: "
        + ", ".join(f"{x:.0%}" for x in shares)
        + " (the ratio when the services answer as fast in both passes; the passes' own"
        " wall times swing with other load on the machine)"
    )
    plain_s, plain_differ, plain_401 = min(plain)
    print(
        f"  (for reference, replay without any restore: {n / plain_s:.1f} pairs/s, but "
        f"{plain_differ}/{n} answers differ from the engine's and {plain_401} legacy answers "
        "are 401: the first session-ending case logs the roles out)"
    )
    own_cpu = min(cpu_s[1:] or cpu_s) - min(replay_cpu_s)
    print(
        f"engine's own CPU (this process, best pass minus the replay's): {own_cpu:.2f}s = "
        f"{own_cpu / n * 1000:.2f} ms per pair (robust to other load on the machine)"
    )
    harness_s = rounds[-1][0]  # the breakdown is the last round's
    own = harness_s - t.transport
    print(
        f"engine's own cost (last round): {own:.2f}s = {own / n * 1000:.2f} ms per pair; each step:"
    )
    for label, value in (
        ("transport (both targets)", t.transport),
        ("database diff", t.dbdiff),
        ("invariants", t.invariants),
        ("restore", t.reset),
        ("normalize + compare", t.compare),
    ):
        print(f"  {label:28s} {value:7.2f}s  {value / harness_s:6.1%}")
    rest = harness_s - (t.transport + t.dbdiff + t.reset + t.invariants + t.compare)
    print(f"  {'other':28s} {rest:7.2f}s  {rest / harness_s:6.1%}")
    print(f"restores, all passes: {restores}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
