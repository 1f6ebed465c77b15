"""The simulator against a real legacy on a fresh seeded database (seed 42, the managed
pair's snapshot): ``python -m tests.traffic.simulate --seed 7 --requests 300 --out FILE``
(the ``traffic`` nox session). ``--before N`` creates N cases first, unrecorded, so the
capture's ids run ahead of a replay's (ids must be mapped). The legacy runs as ``npm start``
runs it, realtime channel included."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx

from harness.traffic.simulator import main as simulate
from tests.servers import running, seed


def capture(
    out: Path, *, seed_n: int, requests: int, before: int = 0, extra: tuple[str, ...] = ()
) -> int:
    with tempfile.TemporaryDirectory(prefix="parity-sim-") as tmp:
        db = Path(tmp) / "legacy.db"
        seed(db, "--seed", "42")
        # as `npm start` runs it: its custom server also serves the realtime channel the
        # simulated clients subscribe to
        with running("legacy", db, Path(tmp), realtime=True) as legacy:
            if before:
                token = legacy.login("admin")
                for n in range(before):
                    httpx.post(
                        f"{legacy.url}/api/cases",
                        json={
                            "title": f"before {n}",
                            "channel": "email",
                            "category": "billing",
                            "customerName": "Pre Capture",
                        },
                        headers={"authorization": f"Bearer {token}"},
                    ).raise_for_status()
            argv = ["--url", legacy.url, "--seed", str(seed_n), "--requests", str(requests)]
            return simulate([*argv, *extra, "--out", str(out)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--before", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args, extra = parser.parse_known_args(argv)  # the rest: the simulator's own options
    return capture(
        args.out, seed_n=args.seed, requests=args.requests, before=args.before, extra=tuple(extra)
    )


if __name__ == "__main__":
    sys.exit(main())
