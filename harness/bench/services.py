"""``parity bench``: the legacy and its port under the same load, side by side.

Each target runs on its own copy of one seeded snapshot; both are up for the whole bench
and loaded one at a time, cell by cell (a request at a concurrency level: legacy then port,
then port then legacy in the next round), so the drift of a shared, noisy machine cancels
out in the ratios. Every read request runs (at every level) before any write: reads then see
the same database on both targets, not tables grown by however many rows each wrote. The
load comes from wrk (C, event-driven: a Python generator would be the bottleneck long before
either service), one run per request and concurrency level; its own ceiling is measured
first against a trivial endpoint and printed with the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError
from harness.pair.services import (
    ManagedService,
    build_snapshot,
    copy_snapshot,
    free_port,
)
from harness.proc import signals
from harness.setup.config import ParityConfig, load_config

__all__ = ["BenchRequest", "main", "pooled_percentile", "run_bench"]

TARGETS = ("legacy", "candidate")
WRK_SCRIPT = """
wrk.method = os.getenv("BENCH_METHOD")
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
local auth = os.getenv("BENCH_AUTH")
if auth ~= nil and auth ~= "" then wrk.headers["Authorization"] = auth end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"errors":%d,"non2xx":%d,' ..
    '"p50":%d,"p95":%d,"p99":%d,"max":%d}\\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
  -- every distinct answer time (microseconds) and how many had it: rounds pooled into one
  -- distribution give a tail from many more answers than one short run's p99
  local parts = {}
  for i = 1, #latency do
    local v, c = latency(i)
    parts[#parts + 1] = string.format("%d %d", v, c)
  end
  io.write("HIST ", table.concat(parts, " "), "\\n")
end
"""


@dataclass(frozen=True)
class BenchRequest:
    name: str
    method: str
    path: str
    role: str | None = None
    body: str | None = None

    @property
    def writes(self) -> bool:
        """Whether the request may change the database (anything but GET, HEAD, OPTIONS)."""
        return self.method.upper() not in {"GET", "HEAD", "OPTIONS"}


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    non2xx: int
    requests: int
    # (answer time in microseconds, how many answers took it), ascending; empty when unknown
    histogram: tuple[tuple[int, int], ...] = ()


@dataclass
class Cell:
    """One request at one concurrency level: every round of each target."""

    request: str
    connections: int
    legacy: list[Sample] = field(default_factory=list)
    candidate: list[Sample] = field(default_factory=list)

    def median(self, target: str, attr: str) -> float:
        samples: list[Sample] = getattr(self, target)
        return float(statistics.median(getattr(s, attr) for s in samples)) if samples else 0.0

    def ratio(self, attr: str) -> float:
        base = self.median("legacy", attr)
        return self.median("candidate", attr) / base if base else 0.0


def load_requests(path: Path) -> list[BenchRequest]:
    try:
        data = tomllib.loads(path.read_text())
        return [BenchRequest(**item) for item in data["request"]]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: invalid bench file: {exc}", kind="config") from exc


def _wrk(url: str, connections: int, seconds: float, request: BenchRequest, auth: str) -> Sample:
    from harness.proc.reaper import REAPER, run_tracked

    script = REAPER.temporary("parity-wrk-", ".lua")  # killed mid-run: the reaper removes it
    script.write_text(WRK_SCRIPT)
    env = {
        **os.environ,
        "BENCH_METHOD": request.method,
        "BENCH_BODY": request.body or "",
        "BENCH_AUTH": auth,
    }
    argv = [
        "wrk",
        f"-t{min(2, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    try:
        out = run_tracked(argv, env=env, timeout=seconds + 30)
    finally:  # the watcher may have removed it already (a kill mid-run)
        with contextlib.suppress(FileNotFoundError):
            script.unlink()
        REAPER.forget(path=script)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if line is None:
        raise HarnessError(f"wrk failed: {out.stderr.strip() or out.stdout.strip()}")
    raw = json.loads(line[6:])
    seconds_run = raw["duration_us"] / 1e6
    hist = next((x for x in out.stdout.splitlines() if x.startswith("HIST")), "HIST")
    numbers = [int(float(x)) for x in hist.split()[1:]]
    return Sample(
        rps=raw["requests"] / seconds_run if seconds_run else 0.0,
        p50_ms=raw["p50"] / 1000,
        p95_ms=raw["p95"] / 1000,
        p99_ms=raw["p99"] / 1000,
        max_ms=raw["max"] / 1000,
        errors=raw["errors"],
        non2xx=raw["non2xx"],
        requests=raw["requests"],
        histogram=tuple(zip(numbers[::2], numbers[1::2], strict=True)),
    )


def pooled_percentile(samples: list[Sample], q: float) -> float | None:
    """The ``q`` percentile (0-100), in ms, of every answer of these samples pooled (their
    wrk histograms added), or None when a sample has no histogram."""
    if not samples or any(not s.histogram for s in samples):
        return None
    counts: dict[int, int] = {}
    for s in samples:
        for value, n in s.histogram:
            counts[value] = counts.get(value, 0) + n
    total = sum(counts.values())
    rank = q / 100 * total
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return value / 1000
    return max(counts) / 1000


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class RssWatcher:
    """Peak resident memory of a service's whole process tree while it is under load."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(self.pid))
            self._stop.wait(0.1)

    def __enter__(self) -> RssWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _tokens(config: ParityConfig, url: str) -> dict[str, str]:
    """Each role's credential as its header value (its prefix and token: the role's scheme)."""
    auth = config.auth
    if auth is None:
        return {}
    tokens: dict[str, str] = {}
    for role, spec in auth.roles.items():
        scheme = auth.for_role(role)
        fixed = auth.fixed_token(role)
        if fixed is not None:
            tokens[role] = f"{scheme.prefix}{fixed}"
            continue
        method, _, path = (scheme.login or "").partition(" ")
        res = httpx.request(method, url + path, json=spec.body, timeout=30)
        if res.status_code >= 400:
            raise HarnessError(f"bench login as {role} failed: {res.status_code} {res.text[:200]}")
        value: Any = res.json()
        for part in scheme.token_path.removeprefix("$.").split("."):
            value = value[part]
        tokens[role] = f"{scheme.prefix}{value}"
    return tokens


def ceiling(seconds: float, connections: int) -> float:
    """wrk against a trivial Node endpoint: the most this machine's generator can show."""
    port = free_port()
    code = (
        "require('http').createServer((q,s)=>{s.setHeader('content-type','application/json');"
        f"s.end('{{}}')}}).listen({port},'127.0.0.1')"
    )
    proc = subprocess.Popen(["node", "-e", code], start_new_session=True)
    from harness.proc.reaper import REAPER

    REAPER.group(proc.pid)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        sample = _wrk(
            f"http://127.0.0.1:{port}/",
            connections,
            seconds,
            BenchRequest("ceiling", "GET", "/"),
            "",
        )
        return sample.rps
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


@dataclass(frozen=True)
class Step:
    """One wrk run of the bench: a warm-up (not measured) or one sample of a cell."""

    phase: str  # "reads" or "writes"
    request: BenchRequest
    connections: int
    target: str
    warm_up: bool = False
    last_of_level: bool = False  # the phase's last run at this level


def schedule(requests: list[BenchRequest], levels: list[int], rounds: int) -> list[Step]:
    """The bench's runs in order. Reads first (warm-up and every level), then writes: a write
    grows the tables the reads scan, and the faster service writes more rows in its seconds,
    so reads measured after writes would load each target with a different database. Within
    a cell the targets alternate which goes first from round to round."""
    steps: list[Step] = []
    reads = [r for r in requests if not r.writes]
    writes = [r for r in requests if r.writes]
    for phase, phase_requests in (("reads", reads), ("writes", writes)):
        if not phase_requests:
            continue
        for target in TARGETS:
            for request in phase_requests:  # warm-up: JIT, caches, pools
                steps.append(Step(phase, request, 4, target, warm_up=True))
        for connections in levels:
            for request in phase_requests:
                for round_no in range(rounds):
                    order = TARGETS if round_no % 2 == 0 else TARGETS[::-1]
                    steps += [Step(phase, request, connections, t) for t in order]
            steps[-1] = replace(steps[-1], last_of_level=True)
    return steps


def run_bench(
    config: ParityConfig,
    requests: list[BenchRequest],
    *,
    levels: list[int],
    seconds: float,
    rounds: int,
    workdir: Path,
    console: Console,
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise HarnessError("parity bench needs wrk (Debian: apt-get install wrk)")
    if config.snapshot is None:
        raise HarnessError(f"{config.source}: [snapshot] is required for parity bench")
    for target in TARGETS:
        if target not in config.services:
            raise HarnessError(f"{config.source}: [services.{target}] is required")
    signals.at("bench start-up")
    snapshot = build_snapshot(
        config.snapshot, config.base_dir, workdir / "snapshot.db", workdir / "snapshot.log"
    )
    top = max(levels)
    generator_ceiling = ceiling(seconds, top)
    console.print(
        f"load generator ceiling (wrk, {top} connections, trivial endpoint): "
        f"[bold]{generator_ceiling:,.0f}[/] req/s"
    )
    cells = {(r.name, c): Cell(r.name, c) for r in requests for c in levels}
    peak_rss: dict[str, int] = dict.fromkeys(TARGETS, 0)
    # Both services run for the whole bench (each on its own copy of the snapshot) and are
    # loaded one at a time, cell by cell: legacy then port, then port then legacy in the next
    # round. A shared machine's load drifts over minutes; measured back to back, both targets
    # of a cell see the same machine, so the ratio is the services' and not the moment's.
    services: dict[str, ManagedService] = {}
    try:
        for target in TARGETS:
            db = copy_snapshot(snapshot, workdir / f"{target}.db")
            services[target] = ManagedService(
                target, config.services[target], config.base_dir, db, workdir / f"{target}.log"
            )
            services[target].start()
        for service in services.values():
            service.wait_healthy()
        tokens = {t: _tokens(config, services[t].base_url) for t in TARGETS}
        watchers = {}
        for target, service in services.items():
            assert service.process is not None
            watchers[target] = RssWatcher(service.process.pid).__enter__()
        signals.at("bench load")
        try:
            for step in schedule(requests, levels, rounds):
                connections = step.connections
                signals.at(operation=f"{step.request.name} on {step.target} x{connections}")
                sample = _wrk(
                    services[step.target].base_url + step.request.path,
                    connections,
                    1 if step.warm_up else seconds,
                    step.request,
                    tokens[step.target].get(step.request.role or "", ""),
                )
                if step.warm_up:
                    continue
                getattr(cells[(step.request.name, connections)], step.target).append(sample)
                if step.last_of_level:
                    console.print(f"{step.phase}, {connections} connections: done")
        finally:
            for target, watcher in watchers.items():
                watcher.__exit__(None, None, None)
                peak_rss[target] = watcher.peak
    finally:
        for service in services.values():
            service.stop()
    return {
        "schema_version": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "levels": levels,
        "seconds_per_run": seconds,
        "rounds": rounds,
        "generator": {"tool": "wrk", "ceiling_rps": generator_ceiling, "connections": top},
        "peak_rss_mib": {t: round(v / 2**20, 1) for t, v in peak_rss.items()},
        "cells": [
            {
                "request": cell.request,
                "connections": cell.connections,
                "legacy": [asdict(s) for s in cell.legacy],
                "candidate": [asdict(s) for s in cell.candidate],
                "rps": {t: cell.median(t, "rps") for t in TARGETS},
                "p50_ms": {t: cell.median(t, "p50_ms") for t in TARGETS},
                "p95_ms": {t: cell.median(t, "p95_ms") for t in TARGETS},
                "p99_ms": {t: cell.median(t, "p99_ms") for t in TARGETS},
                "errors": {t: sum(s.errors + s.non2xx for s in getattr(cell, t)) for t in TARGETS},
                "rps_ratio": cell.ratio("rps"),
                "p99_ratio": cell.ratio("p99_ms"),
            }
            for cell in cells.values()
        ],
    }


def print_table(result: dict[str, Any], console: Console) -> None:
    table = Table(title="parity bench: port / legacy (ratio > 1 means the port is faster)")
    for column in (
        "request",
        "conns",
        "legacy req/s",
        "port req/s",
        "req/s ratio",
        "legacy p50/p95/p99 ms",
        "port p50/p95/p99 ms",
        "p99 ratio",
        "errors",
    ):
        table.add_column(column, justify="left" if column == "request" else "right")
    for cell in result["cells"]:
        ratio = cell["rps_ratio"]
        style = "green" if ratio >= 1 else "red"
        p = {
            t: "/".join(f"{cell[k][t]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms"))
            for t in TARGETS
        }
        table.add_row(
            cell["request"],
            str(cell["connections"]),
            f"{cell['rps']['legacy']:,.0f}",
            f"{cell['rps']['candidate']:,.0f}",
            f"[{style}]{ratio:.2f}[/]",
            p["legacy"],
            p["candidate"],
            f"{cell['p99_ratio']:.2f}",
            f"{cell['errors']['legacy']}/{cell['errors']['candidate']}",
        )
    console.print(table)
    rss = result["peak_rss_mib"]
    console.print(
        f"peak RSS: legacy {rss['legacy']} MiB, port {rss['candidate']} MiB; "
        f"generator ceiling {result['generator']['ceiling_rps']:,.0f} req/s"
    )
    best = max((c["rps"]["legacy"] for c in result["cells"]), default=0.0)
    best = max(best, max((c["rps"]["candidate"] for c in result["cells"]), default=0.0))
    ceiling_rps = result["generator"]["ceiling_rps"]
    verdict = "is not" if ceiling_rps > 2 * best else "MAY BE"
    console.print(
        f"the load generator {verdict} the bottleneck "
        f"(ceiling {ceiling_rps:,.0f} vs best service {best:,.0f} req/s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parity bench", description=__doc__)
    parser.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    parser.add_argument("--requests", type=Path, default=Path("contracts/bench.toml"))
    parser.add_argument("--levels", default="1,8,32,64", help="comma-separated connections")
    parser.add_argument("--seconds", type=int, default=2, help="per run (whole seconds)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per target and cell")
    parser.add_argument("--request", action="append", default=[], help="only these names")
    parser.add_argument("--report-dir", type=Path, default=Path("reports"))
    args = parser.parse_args(argv)
    console = Console(stderr=True)
    try:
        config = load_config(args.config)
        requests = load_requests(args.requests)
        if args.request:
            requests = [r for r in requests if r.name in set(args.request)]
            if not requests:
                raise HarnessError(f"no request named {args.request} in {args.requests}")
        levels = [int(x) for x in args.levels.split(",") if x.strip()]
        run_id = datetime.now(UTC).strftime("bench-%Y%m%dT%H%M%SZ") + f"-{os.getpid() % 10000}"
        from harness.proc.reaper import REAPER, clean_stale

        clean_stale(console.print)
        tmp = REAPER.temporary("parity-bench-", directory=True)  # recorded before it exists
        try:
            with signals.interruptible():
                result = run_bench(
                    config,
                    requests,
                    levels=levels,
                    seconds=args.seconds,
                    rounds=args.rounds,
                    workdir=tmp,
                    console=console,
                )
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            REAPER.forget(path=tmp)
    except HarnessError as exc:
        console.print(f"[red]parity bench: {exc}[/]")
        return 2
    except KeyboardInterrupt:
        signals.handled()
        console.print(f"[red]parity bench: interrupted in {signals.where()}[/]")
        return 2
    out = args.report_dir / run_id
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(result, indent=2))
    latest = args.report_dir / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "bench.json", latest / "bench.json")
    print_table(result, Console(width=170))
    console.print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
