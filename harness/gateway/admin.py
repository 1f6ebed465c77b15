"""``parity gateway shift|promote|routes``: the admin API from a terminal.

``shift ROUTE MODE [PERCENT] --reason TEXT`` and ``promote ROUTE --reason TEXT`` post to a
running gateway's admin listener with the token from ``[gateway] token_env``; ``routes``
prints each route's mode, percent, breaker and recent changes. ``--offline`` edits the state
file of a stopped gateway instead (validated and logged the same way). Refusals exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.gateway.shift import build_shifter
from harness.setup.config import load_config

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parity gateway", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in ("shift", "promote", "routes"):
        s = sub.add_parser(verb)
        s.add_argument("--config", type=Path, default=Path("parity.toml"))
        s.add_argument("--url", help="the admin listener (default: [gateway] admin_listen/listen)")
        if verb != "routes":
            s.add_argument("route", help='a [gateway.routes] key, "GET /api/cases"')
            s.add_argument("--reason", required=True, help="why (goes to the change log)")
            s.add_argument("--who", default=None, help="who (default: the login name)")
            s.add_argument("--offline", action="store_true", help="edit the state file")
        if verb == "shift":
            s.add_argument("mode", choices=["legacy", "shadow", "canary", "port"])
            s.add_argument("percent", nargs="?", type=float)
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        gw = config.gateway
        if getattr(args, "offline", False):
            shifter = build_shifter(gw, config.resolve)
            if args.verb == "shift":
                change = shifter.shift(args.route, args.mode, args.percent, args.reason, _who(args))
            else:
                change = shifter.promote(args.route, args.reason, _who(args))
            print(change.model_dump_json())
            return 0
        token = os.environ.get(gw.token_env)
        if not token:
            raise HarnessError(f"set {gw.token_env} to the gateway's admin token", kind="input")
        base = args.url or f"http://{gw.admin_listen or gw.listen}"
        headers = {"x-parity-token": token}
        if args.verb == "routes":
            res = httpx.get(f"{base}/_parity/routes", headers=headers, timeout=30)
        else:
            body: dict[str, Any] = {"route": args.route, "reason": args.reason, "who": _who(args)}
            if args.verb == "shift":
                body |= {"mode": args.mode, "percent": args.percent}
            res = httpx.post(f"{base}/_parity/{args.verb}", json=body, headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        print(
            f"parity gateway: no gateway answers at {base} ({exc}); --offline edits the "
            "state file of a stopped one",
            file=sys.stderr,
        )
        return 2
    except HarnessError as exc:
        print(f"parity gateway: {exc}", file=sys.stderr)
        return 2
    if res.status_code != 200:
        try:
            message = res.json().get("error", res.text)
        except ValueError:
            message = res.text
        print(f"parity gateway: refused ({res.status_code}): {message}", file=sys.stderr)
        return 2
    print(json.dumps(res.json(), indent=2))
    return 0


def _who(args: argparse.Namespace) -> str:
    return str(args.who or os.environ.get("USER") or getpass.getuser())
