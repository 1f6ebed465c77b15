"""``python -m harness.bench.db_engines``: one profile on SQLite and on PostgreSQL, same seed,
same operations: restore time per write and cases per second, with the ratios.

    python -m harness.bench.db_engines                                   # the shipped pg profile
    python -m harness.bench.db_engines --profile dev --operation "POST /api/cases"
    python -m harness.bench.db_engines --config tests/fixtures/pair/parity.toml --profile ci

Each round runs the profile twice in this process (as ``parity run`` does): once with every
target on SQLite, once with the targets the profile puts on PostgreSQL (``databases``; a
profile without any puts the candidate there). The case cache is warmed first, so generation
is not what is measured, and the engines alternate over ``--repeat`` rounds (the best of each
kept). Per engine it prints:

- restore ms per write: the candidate's ``restore_s / restores`` (``results.json``
  ``targets.candidate``): what putting its database back costs after each write;
- cases/s: exchanges over the run's wall time, startup included, and over the time spent
  in the phases (startup excluded: a PostgreSQL run also starts its server and loads the
  template);
- startup s and the run's verdict (the two runs must compare the same thing).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.run.engine import Engine, RunOptions
from harness.setup.config import ParityConfig, load_config
from harness.setup.contract import load_contract

__all__ = ["main"]


def _with_databases(config: ParityConfig, profile: str, databases: dict[str, Any]) -> ParityConfig:
    chosen = config.profile(profile).model_copy(update={"databases": databases})
    return config.model_copy(update={"profiles": {**config.profiles, profile: chosen}})


def _run(
    config: ParityConfig, contract_path: Path, config_path: Path, args: argparse.Namespace,
    reports: Path, cache: Path,
) -> dict[str, Any]:  # fmt: skip
    contract = load_contract(contract_path, config.overlay_paths())
    options = RunOptions(
        contract_path=contract_path,
        config_path=config_path,
        profile=args.profile,
        seed=args.seed,
        operations=args.operation,
        report_dir=reports,
        cache=True,
        cache_dir=cache,
    )
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        results = Engine(contract, config, options).run()
    wall = time.perf_counter() - started
    if results.errors:
        raise HarnessError(f"the run failed: {results.errors[0].message}")
    candidate = results.targets["candidate"]
    timings = results.stats.timings_s
    exchanges = results.stats.exchanges
    return {
        "engine": candidate.database,
        "verdict": results.verdict,
        "exchanges": exchanges,
        "restores": candidate.restores,
        "restore_ms": 1000 * candidate.restore_s / max(candidate.restores, 1),
        "wall_s": wall,
        "startup_s": timings.get("startup", 0.0),
        "cases_per_s": exchanges / wall,
        "cases_per_s_phases": exchanges / max(wall - timings.get("startup", 0.0), 1e-9),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.db_engines", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    parser.add_argument("--contract", type=Path, help="default: the config's contract")
    parser.add_argument("--profile", default="pg")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--operation", action="append", default=[], help="repeatable; globs")
    parser.add_argument("--repeat", type=int, default=1, help="rounds per engine (best kept)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
        contract_path = args.contract or config.resolve(config.contract or "openapi.yaml")
        wanted = dict(config.profile(args.profile).databases) or {"candidate": "postgresql"}
        variants = {
            "sqlite": _with_databases(config, args.profile, {}),
            "postgresql": _with_databases(config, args.profile, wanted),
        }
        best: dict[str, dict[str, Any]] = {}
        with tempfile.TemporaryDirectory(prefix="parity-bench-engines-") as tmp:
            reports, cache = Path(tmp) / "reports", Path(tmp) / "cache"
            _run(variants["sqlite"], contract_path, args.config, args, reports, cache)  # warm
            for _round in range(args.repeat):
                for name, variant in variants.items():
                    got = _run(variant, contract_path, args.config, args, reports, cache)
                    if name not in best or got["cases_per_s"] > best[name]["cases_per_s"]:
                        best[name] = got
    except HarnessError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    base, pg = best["sqlite"], best["postgresql"]
    targets = ", ".join(f"{k} on {v}" for k, v in sorted(wanted.items()))
    print(
        f"profile {args.profile}, seed {args.seed}, "
        f"{len(args.operation) or 'all'} operation(s); PostgreSQL run: {targets}"
    )
    print(f"{'':30}{'sqlite':>12}{'postgresql':>12}{'pg/sqlite':>11}")
    rows = [
        ("exchanges", "exchanges", "{:12d}"),
        ("restores (candidate)", "restores", "{:12d}"),
        ("restore ms per write", "restore_ms", "{:12.2f}"),
        ("cases/s (wall)", "cases_per_s", "{:12.1f}"),
        ("cases/s (startup excluded)", "cases_per_s_phases", "{:12.1f}"),
        ("startup s", "startup_s", "{:12.2f}"),
        ("wall s", "wall_s", "{:12.2f}"),
    ]
    for label, key, fmt in rows:
        ratio = pg[key] / base[key] if base[key] else float("nan")
        print(f"{label:30}{fmt.format(base[key])}{fmt.format(pg[key])}{ratio:11.2f}")
    print(f"{'verdict':30}{base['verdict']:>12}{pg['verdict']:>12}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
