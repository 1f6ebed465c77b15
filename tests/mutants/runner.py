"""Aim ``parity run`` at one mutant: a parity.toml copy whose candidate is the launcher.

The copy is contracts/parity.toml with paths made absolute, the candidate command replaced
by ``python -m tests.mutants.launcher`` with ``PARITY_MUTANT`` set, and (optionally) the
snapshot command replaced by a copy of a database seeded once, so each run skips the seed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.proc.reaper import run_tracked
from tests.mutants.catalogue import Mutant

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "contracts" / "parity.toml"
PARITY = [sys.executable, "-m", "harness"]

FindingKey = tuple[str, str, str]


# -- a TOML writer for what parity.toml holds ------------------------------------------------
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE.match(key) else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dump_toml(data: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    for key, value in data.items():
        if not isinstance(value, dict) and not _is_table_list(value):
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in data.items():
        name = f"{prefix}.{_key(key)}" if prefix else _key(key)
        if isinstance(value, dict):
            lines.append(f"\n[{name}]")
            lines.append(dump_toml(value, name))
        elif _is_table_list(value):
            for item in value:
                lines.append(f"\n[[{name}]]")
                lines.append(dump_toml(item, name))
    return "\n".join(line for line in lines if line != "")


# -- the config copy ---------------------------------------------------------------------------
def mechanics_errors(workdir: Path, mutant: str | None) -> Path:
    """Where the launcher writes exceptions raised by the mutant's own code (launcher.py)."""
    return workdir / f"mechanics-errors.{mutant or 'unmutated'}.log"


def mutant_config(
    workdir: Path,
    mutant: str | None,
    *,
    snapshot: Path | None = None,
    source: Path = CONFIG,
    extra_profiles: dict[str, dict[str, Any]] | None = None,
    share_cases: bool = False,
) -> Path:
    """Write ``parity.<mutant>.toml`` in ``workdir``; the candidate serves that mutant.

    ``share_cases`` turns the case cache on in every profile, so runs given one
    ``--cache-dir`` draw each operation's cases once (same seed, same cases: the cache is
    keyed on all that shapes them) instead of once per mutant.
    """
    data = tomllib.loads(source.read_text())
    base = source.parent.resolve()
    data["contract"] = str((base / data.get("contract", "openapi.yaml")).resolve())
    if data.get("overlays"):
        data["overlays"] = [str((base / o).resolve()) for o in data["overlays"]]
    if "invariants" in data and data["invariants"].get("file"):
        data["invariants"]["file"] = str((base / data["invariants"]["file"]).resolve())
    noise = data.setdefault("noise", {})
    noise["file"] = str((base / noise.get("file", "noise.json")).resolve())
    if "external" in data:
        data["external"]["cwd"] = str((base / data["external"].get("cwd", ".")).resolve())
    snap = data.get("snapshot")
    if snap is not None:
        if snapshot is not None:
            data["snapshot"] = {
                "command": ["cp", str(snapshot), "{database}"],
                "cwd": str(base),
                "seed": snap.get("seed", 42),
                "timeout_s": 60,
            }
        else:
            snap["cwd"] = str((base / snap.get("cwd", ".")).resolve())
    services = data.get("services", {})
    for service in services.values():
        service["cwd"] = str((base / service.get("cwd", ".")).resolve())
        if "source" in service:
            service["source"] = str((base / service["source"]).resolve())
    candidate = services["candidate"]
    candidate["name"] = f"port+{mutant}" if mutant else "port (launcher, unmutated)"
    candidate["command"] = ["{python}", "-m", "tests.mutants.launcher"]
    candidate["cwd"] = str(ROOT)
    candidate["env"] = {
        **candidate.get("env", {}),
        "PARITY_MUTANT": mutant or "",
        "PARITY_MUTANT_ERRORS": str(mechanics_errors(workdir, mutant)),
    }
    if extra_profiles:
        data.setdefault("profiles", {}).update(extra_profiles)
    if share_cases:
        for settings in data.get("profiles", {}).values():
            settings["cache"] = True
    out = workdir / f"parity.{mutant or 'unmutated'}.toml"
    out.write_text(dump_toml(data) + "\n")
    return out


# -- one run -----------------------------------------------------------------------------------
@dataclass
class Outcome:
    exit_code: int
    results: dict[str, Any] | None
    output: str
    seconds: float

    @property
    def findings(self) -> list[dict[str, Any]]:
        return [f for f in (self.results or {}).get("findings", []) if not f.get("accepted")]

    def keys(self) -> set[FindingKey]:
        return {(f["operation"], f["location"], f["kind"]) for f in self.findings}


def run_parity(
    config: Path,
    operations: list[str] | tuple[str, ...],
    *,
    profile: str,
    seed: int,
    report_dir: Path,
    timeout: float = 300,
    cache_dir: Path | None = None,
) -> Outcome:
    """``parity run`` as a user types it; its results.json is read back from ``report_dir``.

    ``cache_dir``: the case cache several runs share (with a ``share_cases`` config)."""
    import time

    argv = [*PARITY, "run", "--config", str(config), "--profile", profile, "--seed", str(seed)]
    argv += ["--report-dir", str(report_dir), "-q"]
    if cache_dir is not None:
        argv += ["--cache-dir", str(cache_dir)]
    for op in operations:
        argv += ["--operation", op]
    started = time.monotonic()
    # its own group, recorded with the reaper: a SIGTERM or SIGKILL of pytest stops it too
    proc = run_tracked(argv, cwd=ROOT, timeout=timeout)
    seconds = time.monotonic() - started
    output = proc.stdout + proc.stderr
    results = None
    found = sorted(report_dir.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    if found:  # each call gets its own report_dir: the newest is this run's
        results = json.loads(found[-1].read_text())
    return Outcome(proc.returncode, results, output, seconds)


def cpu_of(argv: list[str], cwd: Path = ROOT) -> tuple[int, float, dict[str, float]]:
    """Run ``argv`` and sample the CPU time (user + system) of it and every process it
    starts, as they run (services live in their own process groups, so the parent's rusage
    misses them): (exit code, wall seconds, CPU seconds per command line)."""
    import subprocess
    import time

    import psutil

    started = time.monotonic()
    proc = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    root = psutil.Process(proc.pid)
    seen: dict[int, tuple[str, float]] = {}
    while proc.poll() is None:
        for child in [root, *root.children(recursive=True)]:
            try:
                times = child.cpu_times()
                name = " ".join(child.cmdline())[:80] or seen.get(child.pid, ("?", 0.0))[0]
                seen[child.pid] = (name, times.user + times.system)
            except psutil.Error:
                continue
        time.sleep(0.05)
    per: dict[str, float] = {}
    for name, cpu in seen.values():
        per[name] = per.get(name, 0.0) + cpu
    return proc.returncode, time.monotonic() - started, per


def route_of(operation: str) -> str:
    """The route an operation (or a probe of it) is on: "PUT /api/cases/" -> "/api/cases",
    "POST /api/auth/login [rate limit]" -> "/api/auth/login"."""
    path = operation.split(" ", 1)[-1].split(" [", 1)[0]
    return path.rstrip("/") or "/"


def detections(outcome: Outcome, mutant: Mutant, baseline: set[FindingKey]) -> list[dict[str, Any]]:
    """Findings on a route the mutant touches that the unmutated port did not show.

    A route, not only a declared operation: the engine's probes (an undeclared method, a
    trailing slash) report under their own names, e.g. ``PUT /api/cases`` for a mutant of
    ``GET /api/cases``'s route.
    """
    routes = {route_of(op) for op in mutant.operations}
    return [
        f
        for f in outcome.findings
        if (f["operation"] in mutant.operations or route_of(f["operation"]) in routes)
        and (f["operation"], f["location"], f["kind"]) not in baseline
    ]


def all_operations(mutants: list[Mutant]) -> list[str]:
    seen: dict[str, None] = {}
    for m in mutants:
        for op in m.operations:
            seen.setdefault(op, None)
    return list(seen)


__all__ = [
    "Outcome",
    "all_operations",
    "detections",
    "dump_toml",
    "mutant_config",
    "route_of",
    "run_parity",
]


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.mutants.runner NAME [--seed N] [--profile P] [--set KEY=VALUE]``: one
    mutant's run aimed at its operations (no baseline), its exit code and findings printed."""
    import argparse
    import tempfile

    from tests.mutants.catalogue import get
    from tests.mutants.verify import seeded_database

    parser = argparse.ArgumentParser(prog="python -m tests.mutants.runner")
    parser.add_argument("name", help="a catalogue name, or '' for the unmutated port")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", default="ci")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a profile setting changed for this run (TOML value): --set growth_rows=0 "
        "shows whether a feature is what catches the mutant",
    )
    parser.add_argument(
        "--cpu",
        action="store_true",
        help="print the CPU time of parity and of every process it starts (services, "
        "workers), sampled while the run goes: where a run's cost is",
    )
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="parity-mutant-"))
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    extra = None
    if args.set:
        profile = dict(tomllib.loads(CONFIG.read_text()).get("profiles", {}).get(args.profile, {}))
        for item in args.set:
            key, _, value = item.partition("=")
            profile.update(tomllib.loads(f"{key.strip()} = {value.strip()}"))
        extra = {args.profile: profile}
    config = mutant_config(work, args.name or None, snapshot=snapshot, extra_profiles=extra)
    operations = get(args.name).operations if args.name else ()
    if args.cpu:
        argv = [*PARITY, "run", "--config", str(config), "--profile", args.profile]
        argv += ["--seed", str(args.seed), "--report-dir", str(work / "reports"), "-q"]
        for op in operations:
            argv += ["--operation", op]
        code, wall, per = cpu_of(argv)
        print(f"exit {code} in {wall:.1f} s wall, {sum(per.values()):.2f} s CPU:")
        for name, cpu in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"  {cpu:6.2f} s  {name}")
        return code
    out = run_parity(
        config, operations, profile=args.profile, seed=args.seed, report_dir=work / "reports"
    )
    print(
        f"{args.name or 'unmutated'} seed {args.seed}: exit {out.exit_code} in {out.seconds:.0f} s"
    )
    for f in out.findings:
        print(f"  {f['operation']} {f['location']} {f['kind']}: {f['summary']}")
    print(f"reports: {work / 'reports'}")
    return out.exit_code


if __name__ == "__main__":
    sys.exit(main())
