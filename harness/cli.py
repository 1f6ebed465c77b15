"""``parity run``, ``parity merge``, ``parity report`` and ``parity coverage``: argv to config
to engine to exit code (0/1/2)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError

if TYPE_CHECKING:
    from rich.console import Console

    from harness.reporting.results import Results
    from harness.run.engine import Engine

__all__ = ["main"]

EXIT_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="parity",
        description="Replay contract-generated requests against a legacy service and its port; "
        "diff responses and database writes. Exit 0 agree, 1 drift, 2 error.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the comparison")
    run.add_argument("--profile", help="profile from parity.toml (ci, dev, ...)")
    run.add_argument("--seed", type=int, help="reproduce a run exactly")
    run.add_argument(
        "--operation",
        action="append",
        default=[],
        metavar="SPEC",
        help='e.g. "GET /api/cases" (repeatable; globs allowed)',
    )
    run.add_argument("--report-dir", type=Path, default=Path("reports"))
    run.add_argument("--contract", type=Path, help="OpenAPI file (default contracts/openapi.yaml)")
    run.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    run.add_argument("--legacy-url", help="external mode: the legacy's base URL")
    run.add_argument("--candidate-url", help="external mode: the candidate's base URL")
    run.add_argument("-q", "--quiet", action="store_true", help="summary line only")
    run.add_argument(
        "--shard",
        metavar="I/N",
        help="run shard I of N (a deterministic part of the work; merge with `parity merge`)",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N pairs of services on this machine sharing the work; one merged run (default 1)",
    )
    run.add_argument(
        "--traffic",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="replay captured traffic (a capture or HAR file; repeatable) instead of "
        "generated cases",
    )
    run.add_argument(
        "--keep-going",
        action="store_true",
        help="--traffic: skip broken entries with a warning (default: exit 2 naming them)",
    )
    run.add_argument("--shard-plan", type=Path, help=argparse.SUPPRESS)  # from --workers
    run.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)  # from --workers
    merge = sub.add_parser("merge", help="merge the results.json of a run's shards into one run")
    merge.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="shard results")
    merge.add_argument("--report-dir", type=Path, default=Path("reports"))
    merge.add_argument("-q", "--quiet", action="store_true", help="summary line only")
    sub.add_parser(
        "bench",
        help="the legacy and its port under the same load (harness.bench.services); "
        "`bench gateway` / `bench gateway-stack`: the gateway's cost (harness.bench.gateway)",
        add_help=False,
    )
    sub.add_parser(
        "traffic", help="import and check captured traffic (harness.traffic)", add_help=False
    )
    sub.add_parser(
        "gateway", help="serve from the legacy, shadow to the port, compare live", add_help=False
    )
    report = sub.add_parser("report", help="re-render reporters from a results.json")
    report.add_argument("results", type=Path)
    report.add_argument("--out", type=Path, help="folder for html/junit (default: beside it)")
    coverage = sub.add_parser(
        "coverage",
        help="per operation: the documented responses both sides gave, by phase, and the "
        "row states reached",
    )
    coverage.add_argument("results", type=Path)
    coverage.add_argument(
        "--operation", action="append", default=[], metavar="SPEC", help="only these (globs)"
    )
    coverage.add_argument("--states", action="store_true", help="list each row state")
    init = sub.add_parser("init", help="write a commented parity.toml for two running services")
    init.add_argument("--legacy", required=True, metavar="URL")
    init.add_argument("--candidate", required=True, metavar="URL")
    init.add_argument("--contract", metavar="PATH|URL", help="default: the usual places")
    init.add_argument("--out", default="parity.toml")
    for side in ("legacy", "candidate"):
        init.add_argument(
            f"--{side}-db",
            metavar="PATH|URL",
            help=f"the {side}'s database (SQLite file or postgresql:// URL): compare writes",
        )
    init.add_argument(
        "--calibrate-writes",
        action="store_true",
        help="also send each create twice to the legacy (and to the candidate, to keep them "
        "in step) and propose rules for what differs between two writes; off by default: "
        "it adds rows to both services",
    )
    doctor = sub.add_parser("doctor", help="check a config against the running pair")
    doctor.add_argument("--config", default="parity.toml")
    doctor.add_argument("--contract", help="default: the config's contract")
    doctor.add_argument("--legacy-url", required=True, metavar="URL")
    doctor.add_argument("--candidate-url", required=True, metavar="URL")
    return parser


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.reporting.console import ConsoleListener
    from harness.reporting.jsonout import render_all, update_latest, write_results
    from harness.run.engine import Engine, RunOptions
    from harness.run.partition import parse_shard
    from harness.setup.config import load_config
    from harness.setup.contract import load_contract

    console = Console(highlight=False)
    try:
        config = load_config(args.config)
        contract_path = args.contract or (
            config.resolve(config.contract) if config.contract else Path("contracts/openapi.yaml")
        )
        contract = load_contract(contract_path, config.overlay_paths())
        if (args.legacy_url is None) != (args.candidate_url is None):
            raise HarnessError(
                "give both --legacy-url and --candidate-url, or neither", kind="input"
            )
        shard = parse_shard(args.shard) if args.shard else None
        if args.workers < 1:
            raise HarnessError("--workers must be 1 or more", kind="input")
        if args.workers > 1 and (shard is not None or args.legacy_url is not None):
            raise HarnessError(
                "--workers starts its own pairs of services: not with --shard or URLs",
                kind="input",
            )
        options = RunOptions(
            contract_path=contract_path,
            config_path=args.config,
            profile=args.profile,
            seed=args.seed,
            operations=args.operation,
            report_dir=args.report_dir,
            legacy_url=args.legacy_url,
            candidate_url=args.candidate_url,
            shard=shard,
            shard_plan=args.shard_plan,
            cache_dir=args.cache_dir,
            traffic=args.traffic,
            keep_going=args.keep_going,
        )
        if args.workers > 1:
            return _run_workers(Engine(contract, config, options), args, console)
        listener = ConsoleListener(console, quiet=args.quiet)
        engine = Engine(contract, config, options, listener)
        engine.traffic()  # a broken capture is an error before any service starts
    except HarnessError as exc:
        console.print(f"[bold magenta]parity: error:[/] {exc.message}", soft_wrap=True)
        return EXIT_ERROR
    from harness.proc import signals
    from harness.proc.reaper import clean_stale

    with signals.interruptible():
        clean_stale(console.print)
        try:
            results = engine.run()
        finally:
            listener.close()
        signals.at("report writing")
        publish(results, engine.run_dir, write_results, render_all, update_latest)
    from harness.reporting.console import print_summary

    print_summary(results, console, tables=not args.quiet)
    console.print(f"results: {engine.run_dir / 'results.json'}")
    return int(results.exit_code)


def _measure_coverage(
    config: Path, contract: Path | None, capture: Path
) -> tuple[dict[int, frozenset[Any]], str]:
    """``parity traffic reduce --coverage``: the replay under coverage.py (the run layer)."""
    from harness.run.traffic_coverage import measure

    return measure(config, contract, capture)


def publish(
    results: Results,
    run_dir: Path,
    write_results: Callable[[Results, Path], Path],
    render_all: Callable[[Results, Path], list[str]],
    update_latest: Callable[[Path], Path],
) -> None:
    """Write the run folder under a temporary name, then rename it into place and swap
    ``latest``: a reader never sees half a report, and an interrupted write leaves none."""
    import shutil

    from harness.proc.reaper import REAPER

    staging = run_dir.with_name(f".{run_dir.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    REAPER.path(staging)  # killed while writing: the reaper removes the half report
    if run_dir.exists():
        run_dir.rename(staging)  # the engine's logs and artefacts move along, no copy
    else:
        staging.mkdir(parents=True)
    try:
        write_results(results, staging)
        render_all(results, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # interrupted: no half report either
        raise
    staging.rename(run_dir)
    REAPER.forget(path=staging)
    update_latest(run_dir)


def _finish(results: Results, run_dir: Path, console: Console, *, quiet: bool) -> int:
    """Write the results and the reports of a merged run, as ``parity run`` does."""
    from harness.proc import signals
    from harness.reporting.console import print_summary
    from harness.reporting.jsonout import render_all, update_latest, write_results

    with signals.interruptible():
        signals.at("report writing")
        publish(results, run_dir, write_results, render_all, update_latest)
    print_summary(results, console, tables=not quiet)
    console.print(f"results: {run_dir / 'results.json'}")
    return int(results.exit_code)


def _run_workers(engine: Engine, args: argparse.Namespace, console: Console) -> int:
    from harness.proc import signals
    from harness.proc.reaper import clean_stale
    from harness.scale.workers import run_workers

    with signals.interruptible():
        clean_stale(console.print)
        results, run_dir = run_workers(engine, args.workers, say=console.print)
    return _finish(results, run_dir, console, quiet=args.quiet)


def _merge(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.scale.merge import merge_dirs

    console = Console(highlight=False)
    results = merge_dirs(args.dirs)
    for run in results.stats.shards:
        console.print(
            f"shard {run.index}: run {run.run_id}, {run.verdict}, {run.exchanges} exchanges, "
            f"{run.duration_s:.1f}s"
        )
    return _finish(results, args.report_dir / results.run_id, console, quiet=args.quiet)


def _read_results(path: Path) -> Results | None:
    """``results.json`` read back, or None after saying why it cannot be."""
    from harness.reporting.jsonout import load_results

    try:
        return load_results(path)
    except HarnessError as exc:
        print(f"parity: error: {exc.message}", file=sys.stderr)
        return None


def _report(args: argparse.Namespace) -> int:
    from harness.reporting.console import print_summary
    from harness.reporting.jsonout import render_all

    results = _read_results(args.results)
    if results is None:
        return EXIT_ERROR
    out = args.out or args.results.parent
    out.mkdir(parents=True, exist_ok=True)
    print_summary(results)
    written = render_all(results, out)
    for name in written:
        print(f"wrote {out / name}")
    return int(results.exit_code)


def _coverage(args: argparse.Namespace) -> int:
    from harness.reporting.coverage import coverage_table

    results = _read_results(args.results)
    if results is None:
        return EXIT_ERROR
    sys.stdout.write(coverage_table(results, args.operation or None, states=args.states))
    return 0


def _setup_command(args: argparse.Namespace) -> int:
    """``parity init`` and ``parity doctor`` (harness.onboard): input errors exit 2."""
    try:
        if args.command == "init":
            from harness.onboard import init

            return int(init.main(args))
        from harness.onboard import doctor

        return int(doctor.main(args))
    except HarnessError as exc:
        print(f"parity: error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"] and argv[1:2] in (["gateway"], ["gateway-stack"]):
        # the gateway's cost (pass-through, shadow, canary, port) and its server/client choice
        from harness.bench import gateway as gateway_bench
        from harness.bench import gateway_stack

        chosen = gateway_bench if argv[1] == "gateway" else gateway_stack
        return int(chosen.main(argv[2:]) or 0)
    if argv[:1] == ["bench"]:
        from harness.bench import services as bench

        return int(bench.main(argv[1:]) or 0)
    if argv[:1] == ["gateway"]:
        try:
            from harness.gateway import cli as gateway_cli
        except ImportError as exc:  # the gateway's server and metrics are an extra
            print(
                f"parity gateway needs {exc.name}: pip install 'parity[gateway]'", file=sys.stderr
            )
            return 2

        return gateway_cli.main(argv[1:])
    if argv[:1] == ["traffic"]:
        from harness.traffic import cli as traffic_cli

        return traffic_cli.main(argv[1:], _measure_coverage)
    args = _parser().parse_args(argv)
    from harness.proc import signals

    try:
        if args.command == "run":
            with signals.interruptible():  # from the first moment: loading can take seconds
                return _run(args)
        if args.command == "merge":
            return _merge(args)
        if args.command == "coverage":
            return _coverage(args)
        if args.command in ("init", "doctor"):
            return _setup_command(args)
        return _report(args)
    except KeyboardInterrupt:
        signals.handled()
        print(f"parity: interrupted in {signals.where()}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
