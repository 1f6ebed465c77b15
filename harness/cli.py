"""``parity run`` and ``parity report``: argv to config to engine to exit code (0/1/2)."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from types import FrameType

from harness.errors import HarnessError

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
    sub.add_parser(
        "bench", help="the legacy and its port under the same load (harness.bench)", add_help=False
    )
    report = sub.add_parser("report", help="re-render reporters from a results.json")
    report.add_argument("results", type=Path)
    report.add_argument("--out", type=Path, help="folder for html/junit (default: beside it)")
    return parser


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from harness.config import load_config
    from harness.contract import load_contract
    from harness.engine import Engine, RunOptions
    from harness.reporting.console import ConsoleListener
    from harness.reporting.jsonout import render_all, update_latest, write_results

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
        options = RunOptions(
            contract_path=contract_path,
            config_path=args.config,
            profile=args.profile,
            seed=args.seed,
            operations=args.operation,
            report_dir=args.report_dir,
            legacy_url=args.legacy_url,
            candidate_url=args.candidate_url,
        )
        listener = ConsoleListener(console, quiet=args.quiet)
        engine = Engine(contract, config, options, listener)
    except HarnessError as exc:
        console.print(f"[bold magenta]parity: error:[/] {exc.message}", soft_wrap=True)
        return EXIT_ERROR
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        results = engine.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        listener.close()
    engine.run_dir.mkdir(parents=True, exist_ok=True)
    write_results(results, engine.run_dir)
    render_all(results, engine.run_dir)
    update_latest(engine.run_dir)
    from harness.reporting.console import print_summary

    print_summary(results, console, tables=not args.quiet)
    console.print(f"results: {engine.run_dir / 'results.json'}")
    return int(results.exit_code)


def _report(args: argparse.Namespace) -> int:
    from harness.reporting.console import print_summary
    from harness.reporting.jsonout import load_results, render_all

    try:
        results = load_results(args.results)
    except HarnessError as exc:
        print(f"parity: error: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    out = args.out or args.results.parent
    out.mkdir(parents=True, exist_ok=True)
    print_summary(results)
    written = render_all(results, out)
    for name in written:
        print(f"wrote {out / name}")
    return int(results.exit_code)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["bench"]:
        from harness import bench

        return int(bench.main(argv[1:]) or 0)
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return _run(args)
        return _report(args)
    except KeyboardInterrupt:
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
