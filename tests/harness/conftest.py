from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli import main

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pair"


@pytest.fixture
def pair_dir(tmp_path: Path) -> Path:
    """A private copy of the fixture pair (app, seed, contract, parity.toml)."""
    target = tmp_path / "pair"
    shutil.copytree(FIXTURE, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def make_config(pair: Path, *, drift: str = "", crash_after: int = 0, extra: str = "") -> Path:
    text = (pair / "parity.toml").read_text()
    head, tail = text.split("[services.candidate]", 1)
    env = f'PAIR_DRIFT = "{drift}"'
    if crash_after:
        env += f', PAIR_CRASH_AFTER = "{crash_after}"'
    tail = tail.replace('PAIR_DRIFT = ""', env, 1)
    path = pair / f"parity-{drift or 'agree'}-{crash_after}.toml"
    path.write_text(head + "[services.candidate]" + tail + "\n" + extra)
    return path


RunPair = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture(scope="session")
def case_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One case cache for every fixture-pair run of the session: the cases of an operation
    are drawn once per (contract, seed, profile budget) instead of once per test, about half
    of a run's time. The cache is keyed on all that shapes the cases, so a run reads what it
    would have drawn; a test about the cache itself passes its own ``--cache-dir``. Under
    pytest-xdist the workers share it (an entry is written to a temporary name, then renamed)."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # <basetemp>/popen-gwN: the parent is the run's, shared
    path = base / "case-cache"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def run_pair(pair_dir: Path, tmp_path: Path, case_cache: Path) -> RunPair:
    """Run ``parity run`` in-process on the fixture pair; return (exit code, results)."""

    def run(
        *args: str,
        drift: str = "",
        crash_after: int = 0,
        extra: str = "",
        config: Path | None = None,
        leftovers: bool = True,
    ) -> tuple[int, dict[str, Any]]:
        cfg = config or make_config(pair_dir, drift=drift, crash_after=crash_after, extra=extra)
        reports = tmp_path / "reports"
        argv = ["run", "--config", str(cfg), "--report-dir", str(reports), "-q"]
        code = main([*argv, "--cache-dir", str(case_cache), *args])  # a later --cache-dir wins
        latest = reports / "latest" / "results.json"
        results = json.loads(latest.read_text()) if latest.exists() else {}
        if leftovers:
            assert_no_leftovers(results)
        return code, results

    return run


def _resource_tracker(proc: psutil.Process) -> bool:
    """multiprocessing's own helper, started with the spawned generation worker: it belongs
    to this (test) process and exits with it, as it does with the ``parity`` command."""
    try:
        return "multiprocessing.resource_tracker" in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def assert_no_leftovers(results: dict[str, Any]) -> None:
    """No child process survives a run and the services' ports are closed again."""
    children = psutil.Process().children(recursive=True)
    alive = [
        p
        for p in children
        if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and not _resource_tracker(p)
    ]
    assert not alive, f"processes left behind: {[p.cmdline() for p in alive]}"
    for target in (results.get("targets") or {}).values():
        url = urllib.parse.urlsplit(target.get("base_url") or "")
        if url.hostname == "127.0.0.1" and url.port:
            port = url.port
            with socket.socket() as sock:
                sock.settimeout(0.2)
                assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"


@contextlib.contextmanager
def running_pair(config_path: Path, tmp: Path) -> Iterator[tuple[list[Any], Path]]:
    """Both services of a fixture config started on copies of one seeded snapshot, as a
    user's own running pair is (URL mode); yields (services, snapshot) and stops them."""
    from harness.pair.services import ManagedService, build_snapshot, copy_snapshot
    from harness.setup.config import load_config

    config = load_config(config_path)
    assert config.snapshot is not None
    snap = build_snapshot(config.snapshot, config.base_dir, tmp / "snap.db", tmp / "snap.log")
    services = []
    try:
        for key in ("legacy", "candidate"):
            svc = ManagedService(
                key,
                config.services[key],
                config.base_dir,
                copy_snapshot(snap, tmp / f"{key}.db"),
                tmp / f"{key}.log",
            )
            svc.start()
            services.append(svc)
        for svc in services:
            svc.wait_healthy()
        yield services, snap
    finally:
        for svc in services:
            svc.stop()
