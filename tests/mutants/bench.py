"""``python -m tests.mutants.bench``: how well does parity catch the catalogue?

Per mutant: detected or not, requests to the mutated operations until the first detecting
exchange, seconds from the start of the run until then (service startup included), and
whether the reported example is 1-minimal (no single further reduction the engine knows:
drop a query parameter, a header or a body key, halve a string, empty a list or object,
still shows the same difference). Totals: detection rate, median requests to detect, and
false positives of the unmutated pair over N seeds.

A detection is a difference on a mutated operation whose (operation, location, kind) the
unmutated launcher does not show with the same seed (the same generated cases), so drift
the real port already has is not counted as catching a mutant. The engine runs in-process
(``harness.run.engine.Engine`` with its ``on_exchange`` hook); the minimality check re-sends
reductions through the engine before it stops the services.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.findings import Findings, reductions
from harness.models import ExchangeResult
from harness.run.context import RunContext
from harness.run.engine import Engine, NullListener, RunOptions
from harness.setup.config import load_config
from harness.setup.contract import load_contract
from tests.mutants.catalogue import CATALOGUE, Mutant
from tests.mutants.runner import FindingKey, all_operations, mutant_config, route_of
from tests.mutants.verify import seeded_database


@dataclass
class Measure:
    name: str
    family: str
    detected: bool = False
    requests: int | None = None  # exchanges on mutated operations up to the detecting one
    seconds: float | None = None
    minimal: bool | None = None
    example: str = ""
    findings: list[FindingKey] = field(default_factory=list)
    total_requests: int = 0
    run_seconds: float = 0.0
    error: str | None = None


class Watch:
    """The engine, watched through its public hooks: ``on_exchange`` sees every exchange
    (first detection), and a phase planned after shrinking checks that the shrunk
    example of the first finding is 1-minimal while the services are still up."""

    name = "mutant-minimality"

    def __init__(self, mutated: set[str], baseline: set[FindingKey]) -> None:
        self.mutated = mutated
        # probes of a mutated route (PUT /api/cases, GET /api/cases/1/) count as that route's
        self.routes = {route_of(op) for op in mutated}
        self.baseline = baseline
        self.count = 0
        self.first: tuple[int, float, FindingKey] | None = None
        self.minimal: bool | None = None
        self.accepted: Any = None
        self._t0 = time.monotonic()

    def seen(self, result: ExchangeResult) -> None:
        op = result.request.operation
        if self.first is not None or not self.on_mutated(op):
            return
        self.count += 1
        for diff in result.differences:
            key = (op, diff.location, diff.kind)
            if key not in self.baseline and not (self.accepted and self.accepted(op, diff)):
                self.first = (self.count, time.monotonic() - self._t0, key)
                return

    def on_mutated(self, op: str) -> bool:
        return op in self.mutated or route_of(op) in self.routes

    def execute(self, ctx: RunContext) -> None:
        if self.first is None:
            return
        group = ctx.findings.groups.get(self.first[2])
        if group is None:
            return
        req = group.example.request
        self.minimal = True
        for smaller in reductions(req):
            if smaller is req or smaller.signature() == req.signature():
                continue
            result = ctx.exchange(smaller)
            if any(
                (d.location, d.kind) == (group.location, group.kind) for d in result.differences
            ):
                self.minimal = False
                break


def _engine(
    config_path: Path,
    ops: list[str],
    profile: str,
    seed: int,
    report_dir: Path,
    *,
    watch: Watch | None = None,
) -> Engine:
    config = load_config(config_path)
    contract_path = config.resolve(config.contract or "openapi.yaml")
    options = RunOptions(
        contract_path=contract_path,
        config_path=config_path,
        profile=profile,
        seed=seed,
        operations=ops,
        report_dir=report_dir,
    )
    contract = load_contract(contract_path, config.overlay_paths())
    if watch is None:
        return Engine(contract, config, options, NullListener())
    return Engine(
        contract,
        config,
        options,
        NullListener(),
        on_exchange=watch.seen,
        extra_phases={"after:shrink": [watch]},
    )


def _run(engine: Engine) -> dict[str, Any]:
    """Run and keep results.json beside the run's logs (the CLI would write it too)."""
    results = engine.run()
    engine.run_dir.mkdir(parents=True, exist_ok=True)
    results.write(engine.run_dir / "results.json")
    return results.model_dump(mode="json")


def _keys(results: dict[str, Any]) -> set[FindingKey]:
    return {
        (f["operation"], f["location"], f["kind"])
        for f in results.get("findings", [])
        if not f.get("accepted")
    }


def measure(
    mutant: Mutant, work: Path, snapshot: Path, profile: str, seed: int, baseline: set[FindingKey]
) -> Measure:
    out = Measure(mutant.name, mutant.family)
    config = mutant_config(work, mutant.name, snapshot=snapshot)
    watch = Watch(set(mutant.operations), baseline)
    engine = _engine(config, list(mutant.operations), profile, seed, work / "reports", watch=watch)
    watch.accepted = Findings(engine.config.accept_rules(engine.profile_name)).accepted
    started = time.monotonic()
    results = _run(engine)
    out.run_seconds = time.monotonic() - started
    out.total_requests = watch.count
    if results.get("errors"):
        out.error = "; ".join(e.get("message", "")[:120] for e in results["errors"])
    out.findings = sorted(k for k in _keys(results) if watch.on_mutated(k[0]))
    if watch.first is not None:
        out.detected = True
        out.requests, out.seconds, key = watch.first
        out.example = f"{key[1]} {key[2]}"
        out.minimal = watch.minimal
    return out


def table(rows: list[Measure]) -> str:
    head = f"{'mutant':34} {'family':8} {'detected':8} {'reqs':>5} {'secs':>6} {'minimal':7}  first finding"
    lines = [head, "-" * len(head)]
    for m in rows:
        detected = "ERROR" if m.error else ("yes" if m.detected else "NO")
        reqs = str(m.requests) if m.requests is not None else f"({m.total_requests})"
        secs = f"{m.seconds:.1f}" if m.seconds is not None else f"({m.run_seconds:.0f})"
        minimal = {True: "yes", False: "no", None: "-"}[m.minimal]
        lines.append(
            f"{m.name:34} {m.family:8} {detected:8} {reqs:>5} {secs:>6} {minimal:7}  "
            f"{m.example or m.error or ''}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutants (default: the whole catalogue)")
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--fp-seeds", type=int, default=10, help="seeds for the false-positive runs"
    )
    parser.add_argument("--work", type=Path, help="keep configs and reports here")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="parity-mutants-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    mutants = [CATALOGUE[n] for n in (args.names or sorted(CATALOGUE))]
    ops = all_operations(mutants)
    plain = mutant_config(work, None, snapshot=snapshot)

    print(f"baseline: unmutated launcher, {len(ops)} operations, seed {args.seed}", flush=True)
    base = _run(_engine(plain, ops, args.profile, args.seed, work / "reports"))
    if base.get("errors"):
        print(f"baseline errored: {base['errors']}")
        return 2
    baseline = _keys(base)
    for key in sorted(baseline):
        print(f"  already drifting on the unmutated port: {' '.join(key)}")

    rows: list[Measure] = []
    for mutant in mutants:
        row = measure(mutant, work, snapshot, args.profile, args.seed, baseline)
        rows.append(row)
        status = "ERROR" if row.error else ("detected" if row.detected else "ESCAPED")
        print(f"  {mutant.name}: {status} ({row.run_seconds:.1f}s)", flush=True)

    fp_runs: list[tuple[int, int, list[FindingKey]]] = []
    for i in range(args.fp_seeds):
        seed = args.seed + 1000 + i
        engine = _engine(plain, ops, args.profile, seed, work / "reports")
        res = _run(engine)
        keys = sorted(_keys(res))
        fp_runs.append((seed, res.get("stats", {}).get("exchanges", 0), keys))
        where = f" ({engine.run_dir / 'results.json'})" if keys else ""
        print(f"  agreeing pair, seed {seed}: {len(keys)} finding(s){where}", flush=True)

    print()
    print(table(rows))
    detected = [r for r in rows if r.detected]
    reqs = [r.requests for r in detected if r.requests is not None]
    print()
    print(f"profile {args.profile}, seed {args.seed}, work dir {work}")
    print(f"detection rate: {len(detected)}/{len(rows)} = {100 * len(detected) / len(rows):.0f}%")
    if reqs:
        print(f"median requests to detect: {statistics.median(reqs):g} (max {max(reqs)})")
    secs = [r.seconds for r in detected if r.seconds is not None]
    if secs:
        print(
            f"median seconds to detect (run start, startup included): {statistics.median(secs):.1f}"
        )
    minimal = [r for r in detected if r.minimal]
    print(f"1-minimal examples: {len(minimal)}/{len(detected)}")
    escaped = [r.name for r in rows if not r.detected]
    print(f"escaped: {', '.join(escaped) or 'none'}")
    fp_total = sum(len(k) for _, _, k in fp_runs)
    fp_bad = sum(1 for _, _, k in fp_runs if k)
    print(
        f"false positives on the agreeing pair: {fp_total} finding(s) in {fp_bad}/{len(fp_runs)} "
        f"runs (seeds {args.seed + 1000}..{args.seed + 1000 + len(fp_runs) - 1}, "
        f"{sum(n for _, n, _ in fp_runs)} exchanges)"
    )
    for seed, _, keys in fp_runs:
        for key in keys:
            print(f"  seed {seed}: {' '.join(key)}")
    return 0 if not escaped and not fp_total else 1


if __name__ == "__main__":
    sys.exit(main())
