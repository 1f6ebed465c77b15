"""``parity traffic import|check``: turn HAR or capture files into one redacted capture, or
say what is wrong with them (exit 2 naming each broken entry; ``--keep-going`` warns instead)."""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.traffic.capture import (
    Capture,
    Pseudonymizer,
    Redactor,
    TrafficError,
    merge_captures,
)
from harness.traffic.har import read_traffic

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="parity traffic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("import", "HAR 1.2 or capture files to one capture (JSON Lines)"),
        ("check", "read traffic files and summarize them; exit 2 on a broken entry"),
        ("gaps", "what the traffic used that the contract leaves out, and an Overlay adding it"),
        ("reduce", "a representative part, sampled by caller, with its dependency closure"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("files", nargs="+", type=Path, metavar="FILE")
        cmd.add_argument(
            "--keep-going",
            action="store_true",
            help="warn about broken entries and keep the valid ones (default: exit 2)",
        )
        cmd.add_argument("--snapshot", help="the database snapshot the traffic starts from")
        cmd.add_argument(
            "--redact-field",
            action="append",
            default=[],
            metavar="NAME",
            help="also redact this body field / query parameter (repeatable)",
        )
        cmd.add_argument(
            "--redact-header",
            action="append",
            default=[],
            metavar="NAME",
            help="also redact this header (repeatable)",
        )
        cmd.add_argument(
            "--pseudonymize",
            action="append",
            default=[],
            metavar="NAME",
            help="replace this field's values by their keyed HMAC ($PARITY_TRAFFIC_KEY)",
        )
        if name == "import":
            cmd.add_argument("--out", type=Path, required=True, help="capture file to write")
        if name == "reduce":
            cmd.add_argument("--out", type=Path, required=True, help="capture file to write")
            cmd.add_argument(
                "--coverage",
                action="store_true",
                help="replay the capture on the managed pair with the candidate under "
                "coverage.py and also keep each request that runs port code no kept request "
                "runs (with its id chain); needs the coverage extra",
            )
        if name in ("gaps", "reduce"):
            cmd.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
            cmd.add_argument("--contract", type=Path, help="default: the config's contract")
            if name == "gaps":
                cmd.add_argument("--overlay", type=Path, help="write the suggested Overlay here")
    return parser


def _load(args: argparse.Namespace) -> list[Capture]:
    redactor = Redactor.build(
        Pseudonymizer.from_env(),
        headers=args.redact_header,
        fields=args.redact_field,
        personal=args.pseudonymize,
    )
    captures = []
    for path in args.files:
        cap = read_traffic(path, redactor, keep_going=args.keep_going, snapshot=args.snapshot)
        for problem in cap.problems:
            print(f"parity traffic: warning: {problem}", file=sys.stderr)
        captures.append(cap)
    return captures


# (config, contract or None, capture file) -> (capture seq -> what its request ran of the
# port, a line saying how it was measured): harness.run.traffic_coverage.measure, given by
# harness.cli (a layer above this one)
Measure = Callable[[Path, Path | None, Path], tuple[dict[int, frozenset[Any]], str]]


def main(argv: list[str], measure: Measure | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        captures = _load(args)
    except TrafficError as exc:
        print(f"parity traffic: error: {exc.message}", file=sys.stderr)
        return 2
    if args.command in ("gaps", "reduce"):
        return _with_contract(args, captures, measure)
    if args.command == "check":
        for cap in captures:
            ops = Counter(f"{e.request.method} {e.request.path}" for e in cap.exchanges)
            callers = {e.caller for e in cap.exchanges}
            print(
                f"{cap.source}: {len(cap.exchanges)} exchanges, {len(callers)} callers, "
                f"{len(ops)} distinct paths, {len(cap.problems)} broken"
            )
        return 0
    merged = captures[0]
    if len(captures) > 1:
        try:
            merged = merge_captures(captures, merged.source)
        except TrafficError as exc:
            print(f"parity traffic: error: {exc.message}", file=sys.stderr)
            return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    merged.write(args.out)
    print(f"wrote {args.out}: {len(merged.exchanges)} exchanges, {len(merged.problems)} skipped")
    return 0


def _with_contract(
    args: argparse.Namespace, captures: list[Capture], measure: Measure | None = None
) -> int:
    import yaml

    from harness.errors import HarnessError
    from harness.setup.config import load_config
    from harness.setup.contract import load_contract
    from harness.traffic.gaps import find_gaps

    try:
        config = load_config(args.config)
        path = args.contract or (
            config.resolve(config.contract) if config.contract else Path("contracts/openapi.yaml")
        )
        contract = load_contract(path, config.overlay_paths())
    except HarnessError as exc:
        print(f"parity traffic: error: {exc.message}", file=sys.stderr)
        return 2
    base = config.base_path if config.base_path is not None else contract.base_path
    if args.command == "reduce":
        from harness.traffic.reduce import reduce_capture

        if len(captures) != 1:
            print("parity traffic: error: reduce takes one capture", file=sys.stderr)
            return 2
        from harness.traffic.har import IDENTITY_FIELDS
        from harness.traffic.replay import caller_roles, role_identities

        names = list(config.auth.roles) if config.auth else []
        roles = caller_roles(
            config.traffic,
            names,
            role_identities(config, IDENTITY_FIELDS),
            Pseudonymizer.from_env() if "PARITY_TRAFFIC_KEY" in os.environ else None,
        )
        default = config.traffic.role or (names[0] if names else None)
        covered = None
        if args.coverage:
            if measure is None:
                print("parity traffic: error: --coverage: no replay available", file=sys.stderr)
                return 2
            try:
                covered, note = measure(args.config, args.contract, args.files[0])
            except HarnessError as exc:
                print(f"parity traffic: error: {exc.message}", file=sys.stderr)
                return 2
            print(note)
        reduction = reduce_capture(captures[0], contract, base, roles, default, covered)
        reduction.capture.write(args.out)
        print(reduction.summary())
        print(f"wrote {args.out}")
        return 0
    gaps = find_gaps(captures, contract, base)
    sys.stdout.write(gaps.text())
    if args.overlay is not None:
        args.overlay.write_text(yaml.safe_dump(gaps.overlay(), sort_keys=False), encoding="utf-8")
        print(f"wrote {args.overlay}")
    return 0
