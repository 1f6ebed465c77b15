"""``python -m harness.bench.gateway``: the gateway's cost, printed, never asserted.

For each mode (``legacy`` pass-through, ``shadow``) a ``parity gateway`` is started in front
of the running pair (all of them at once) and wrk loads one request directly against the
legacy and through each gateway at each concurrency level, round by round (direct, legacy
mode, direct, shadow mode, ...; the next round starts with the next mode), so a noisy
shared machine hits every mode alike. Each gateway is loaded for a second before its measured
cell, so its pool is as warm as steady traffic keeps it.
Figures: requests/s, p50 and p99 each way, the p50 the gateway adds, its share of direct
throughput, and for ``shadow`` the share of the reads it shadowed (the rest shed while the
legacy was under strain: ``[gateway.shed]``) next to its p99 over pass-through's: of every
round's answers pooled (wrk's histograms added), the median of the rounds' ratios, and of the
best rounds."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from harness.bench.services import (
    BenchRequest,
    Sample,
    _tokens,
    _wrk,
    load_requests,
    pooled_percentile,
)
from harness.errors import HarnessError
from harness.pair.services import free_port
from harness.proc.reaper import REAPER
from harness.setup.config import load_config

__all__ = ["main"]

TOKEN = secrets.token_hex(16)  # the gateways' admin token, for /_parity/status


def _start(config: Path, legacy: str, candidate: str, mode: str, out: Path) -> tuple[Any, str]:
    port = free_port()
    listen = f"127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "harness",
        "gateway",
        "--config",
        str(config),
        "--listen",
        listen,
        "--legacy-url",
        legacy,
        "--candidate-url",
        candidate,
        "--mode",
        mode,
        "--results",
        str(out / mode),
        "--quiet",
    ]
    log = (out / f"gateway-{mode}.log").open("wb")
    env = {**os.environ, "PARITY_GATEWAY_TOKEN": TOKEN}
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    REAPER.group(proc.pid)
    url = f"http://{listen}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise HarnessError(f"the gateway exited: {(out / f'gateway-{mode}.log').read_text()}")
        try:
            httpx.get(url + "/api/health", timeout=2)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    raise HarnessError("the gateway did not start in 60 s")


def _stop(proc: Any) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    REAPER.forget(proc.pid)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    config = load_config(args.config)
    requests = {r.name: r for r in load_requests(args.requests)}
    if args.request not in requests:
        raise HarnessError(f"no request named {args.request!r} in {args.requests}")
    request: BenchRequest = requests[args.request]
    auth = _tokens(config, args.legacy_url).get(request.role or "", "")
    levels = [int(x) for x in args.levels.split(",")]
    rows: list[dict[str, Any]] = []
    modes = args.modes.split(",")
    with tempfile.TemporaryDirectory(prefix="parity-gwbench-") as tmp:
        gateways: dict[str, tuple[Any, str]] = {}
        try:
            for mode in modes:  # all up at once: each round loads them in turn (below)
                gateways[mode] = _start(
                    args.config, args.legacy_url, args.candidate_url, mode, Path(tmp)
                )
            for level in levels:
                direct: dict[str, list[Sample]] = {mode: [] for mode in modes}
                through: dict[str, list[Sample]] = {mode: [] for mode in modes}
                cpu: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
                seen: dict[str, list[int]] = {mode: [0, 0] for mode in modes}  # eligible, shadowed
                for mode in modes:
                    _wrk(gateways[mode][1] + request.path, level, 1, request, auth)  # warm-up
                for round_ in range(args.rounds):
                    # direct, then each mode right after its own direct cell: a noisy shared
                    # machine hits the modes alike, and each mode's share has its own baseline;
                    # the modes' order turns each round: a tail that falls on one place of the
                    # round (the second gateway's p99 was 4 to 5x the first's whichever mode it
                    # served) falls on every mode alike
                    turn = round_ % len(modes)
                    for mode in modes[turn:] + modes[:turn]:
                        direct[mode].append(
                            _wrk(args.legacy_url + request.path, level, args.seconds, request, auth)
                        )
                        # its pool warm again, as under steady traffic: the direct cell took
                        # longer than the legacy keeps an idle connection (Node: 5 s), and 32
                        # connections opened at once to the Next.js legacy left some of them
                        # waiting 200 to 400 ms, direct or through (p99 x4 in the cells that
                        # followed a lull, whichever mode)
                        _wrk(gateways[mode][1] + request.path, level, 1, request, auth)
                        pid = gateways[mode][0].pid
                        before = _cpu(pid)
                        counted = _shadowed(gateways[mode][1])
                        sample = _wrk(
                            gateways[mode][1] + request.path, level, args.seconds, request, auth
                        )
                        after = _cpu(pid)
                        now = _shadowed(gateways[mode][1])
                        seen[mode][0] += now[0] - counted[0]
                        seen[mode][1] += now[1] - counted[1]
                        through[mode].append(sample)
                        if sample.requests:
                            cpu[mode].append(
                                (
                                    (after[0] - before[0]) * 1000 / sample.requests,
                                    (after[1] - before[1]) * 1000 / sample.requests,
                                )
                            )
                for mode in modes:
                    rows.append(_row(mode, level, direct[mode], through[mode]))
                    if cpu[mode]:  # CPU time per request: what noise on the machine moves least
                        serving, worker = min(cpu[mode])
                        rows[-1]["gateway_cpu_ms"] = round(serving, 3)
                        rows[-1]["worker_cpu_ms"] = round(worker, 3)
                    if seen[mode][0]:  # the share of the reads the port saw a copy of
                        rows[-1]["shadowed_share"] = round(seen[mode][1] / seen[mode][0], 3)
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            for proc, _ in gateways.values():
                _stop(proc)
    rows.sort(key=lambda r: (modes.index(r["mode"]), r["connections"]))
    return rows


def _shadowed(url: str) -> tuple[int, int]:
    """The gateway's totals of requests it could shadow and of those it shadowed."""
    doc = httpx.get(url + "/_parity/status", headers={"x-parity-token": TOKEN}, timeout=30).json()
    return int(doc.get("eligible", 0)), int(doc.get("shadowed", 0))


def _cpu(pid: int) -> tuple[float, float]:
    """CPU seconds (user + system) of the gateway's serving process and of its children
    (the comparison worker), from /proc; zeros where /proc is not there."""

    def used(p: int) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        kids = []
    return used(pid), sum(used(int(k)) for k in kids)


def _row(mode: str, level: int, direct: list[Sample], through: list[Sample]) -> dict[str, Any]:
    d = min(direct, key=lambda s: s.p50_ms)
    g = min(through, key=lambda s: s.p50_ms)
    r: dict[str, Any] = {
        "mode": mode,
        "connections": level,
        "direct_rps": round(max(s.rps for s in direct), 1),
        "gateway_rps": round(max(s.rps for s in through), 1),
        "direct_p50_ms": d.p50_ms,
        "gateway_p50_ms": g.p50_ms,
        "direct_p99_ms": min(s.p99_ms for s in direct),
        "gateway_p99_ms": min(s.p99_ms for s in through),
        "errors": sum(s.errors + s.non2xx for s in through),
    }
    # the tail of every round's answers pooled (a 3 s run's p99 is its few slowest answers),
    # and each round's own p99 in round order, to pair with the other mode's same round
    r["direct_pooled_p50_ms"] = pooled_percentile(direct, 50)
    r["gateway_pooled_p50_ms"] = pooled_percentile(through, 50)
    r["direct_pooled_p99_ms"] = pooled_percentile(direct, 99)
    r["gateway_pooled_p99_ms"] = pooled_percentile(through, 99)
    r["round_p99_ms"] = [s.p99_ms for s in through]
    r["added_p50_ms"] = round(r["gateway_p50_ms"] - r["direct_p50_ms"], 3)
    r["throughput_share"] = round(r["gateway_rps"] / r["direct_rps"], 3) if r["direct_rps"] else 0.0
    return r


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="parity bench gateway", description=__doc__)
    p.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    p.add_argument("--requests", type=Path, default=Path("contracts/bench.toml"))
    p.add_argument("--request", default="GET /api/auth/me", help="a request name of the bench file")
    p.add_argument("--legacy-url", required=True)
    p.add_argument("--candidate-url", required=True)
    p.add_argument("--levels", default="1,8,32,64")
    p.add_argument("--modes", default="legacy,shadow")
    p.add_argument("--seconds", type=int, default=3)
    p.add_argument("--rounds", type=int, default=2)
    args = p.parse_args(argv)
    try:
        rows = run(args)
    except HarnessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    print(
        f"{'mode':8} {'conns':>5} {'direct rps':>10} {'gw rps':>8} {'share':>6} "
        f"{'p50 direct':>10} {'p50 gw':>7} {'added':>6} {'p99 direct':>10} {'p99 gw':>7} "
        f"{'cpu ms/req gw':>13} {'worker':>6}"
    )
    for r in rows:
        print(
            f"{r['mode']:8} {r['connections']:>5} {r['direct_rps']:>10} {r['gateway_rps']:>8} "
            f"{r['throughput_share']:>6} {r['direct_p50_ms']:>10} {r['gateway_p50_ms']:>7} "
            f"{r['added_p50_ms']:>6} {r['direct_p99_ms']:>10} {r['gateway_p99_ms']:>7} "
            f"{r.get('gateway_cpu_ms', ''):>13} {r.get('worker_cpu_ms', ''):>6}"
        )
    passthrough = {r["connections"]: r for r in rows if r["mode"] == "legacy"}
    for r in passthrough.values():  # the yardsticks for pass-through, every round pooled
        d, g = r.get("direct_pooled_p50_ms"), r.get("gateway_pooled_p50_ms")
        if d is not None and g is not None:
            print(
                f"pass-through at {r['connections']:>2} connections: adds {g - d:.2f} ms at p50 "
                f"(pooled: {d:.2f} -> {g:.2f} ms), {100 * r['throughput_share']:.0f}% of direct "
                "throughput"
            )
    for r in rows:  # the yardstick: shadow's p99 against pass-through's, same level
        base = passthrough.get(r["connections"])
        if r["mode"] == "shadow" and base is not None:
            print(_p99_line(r, base))
    return 0


def _p99_line(shadow: dict[str, Any], base: dict[str, Any]) -> str:
    """Shadow's client p99 over pass-through's at one level: of every round's answers pooled
    (the figure to read), the median of the rounds' own ratios (each round loads both
    gateways back to back) and the best rounds' (the old figure), with the share shadowed."""
    parts = []
    pooled, pooled_base = shadow.get("gateway_pooled_p99_ms"), base.get("gateway_pooled_p99_ms")
    if pooled and pooled_base:
        parts.append(f"pooled {pooled / pooled_base:.2f} ({pooled:.1f} / {pooled_base:.1f} ms)")
    pairs = [
        a / b
        for a, b in zip(shadow.get("round_p99_ms", []), base.get("round_p99_ms", []), strict=False)
        if b
    ]
    if pairs:
        parts.append(f"median of rounds {statistics.median(pairs):.2f}")
    if base["gateway_p99_ms"]:
        parts.append(f"best rounds {shadow['gateway_p99_ms'] / base['gateway_p99_ms']:.2f}")
    share = shadow.get("shadowed_share")
    if share is not None:
        parts.append(f"reads shadowed {100 * share:.1f}%")
    return f"shadow p99 / pass-through p99 at {shadow['connections']:>2} connections: " + (
        ", ".join(parts) or "no answers"
    )


if __name__ == "__main__":
    sys.exit(main())
