"""URL mode with ``[external] databases`` (issue 15): a pair parity did not start still gets
write diffs, invariants and restores, and ``reset_command`` runs alongside the watchers.

The test starts the fixture pair itself (two processes on two SQLite files, the candidate
with a write-only drift switch) and gives parity only their URLs and database paths.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.pair.services import ManagedService, build_snapshot, copy_snapshot
from harness.setup.config import load_config
from tests.harness.conftest import RunPair, assert_no_leftovers, make_config

pytestmark = [pytest.mark.e2e]


@contextlib.contextmanager
def started_pair(pair_dir: Path, tmp: Path, drift: str) -> Iterator[dict[str, ManagedService]]:
    """The fixture pair up on its own SQLite copies, as a user's pair would be."""
    config = load_config(make_config(pair_dir, drift=drift))
    assert config.snapshot is not None
    snap = build_snapshot(config.snapshot, config.base_dir, tmp / "s.db", tmp / "s.log")
    services: dict[str, ManagedService] = {}
    try:
        for key in ("legacy", "candidate"):
            database = copy_snapshot(snap, tmp / f"{key}-{drift or 'agree'}.db")
            services[key] = ManagedService(
                key, config.services[key], config.base_dir, database, tmp / f"{key}.log"
            )
            services[key].start()
        for svc in services.values():
            svc.wait_healthy()
        yield services
    finally:
        for svc in services.values():
            svc.stop()


def _rows(path: Path | str) -> dict[str, list[Any]]:
    conn = sqlite3.connect(path)
    try:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("items", "events", "reviews")
        }
    finally:
        conn.close()


def _external(services: dict[str, ManagedService], counter: Path, *, interop: bool) -> str:
    reset = [sys.executable, "-c", f"open({str(counter)!r}, 'a').write('x')"]
    databases = ", ".join(f"{k} = {json.dumps(str(s.database))}" for k, s in services.items())
    return (
        f"\n[external]\nreset_command = {json.dumps(reset)}\ndatabases = {{ {databases} }}\n"
        "[profiles.ext]\npositive = 8\nnegative = 2\nprobes = false\nrows = false\n"
        f"shrink = false\ninvariants = true\ninterop = {str(interop).lower()}\n"
    )


def _run(
    run_pair: RunPair, pair_dir: Path, tmp: Path, drift: str, *operations: str
) -> tuple[int, dict[str, Any], int, bool]:
    """(exit code, results, reset_command runs, databases back at their baseline)."""
    counter = tmp / f"resets-{drift or 'agree'}"
    with started_pair(pair_dir, tmp, drift) as services:
        before = {k: _rows(s.database) for k, s in services.items()}
        selection = [arg for op in ("POST /items", *operations) for arg in ("--operation", op)]
        extra = _external(services, counter, interop=bool(operations))
        code, results = run_pair(
            "--profile", "ext", "--seed", "3", *selection,
            "--legacy-url", services["legacy"].base_url,
            "--candidate-url", services["candidate"].base_url,
            config=make_config(pair_dir, drift=drift, extra=extra),
            leftovers=False,
        )  # fmt: skip
        restored = before == {k: _rows(s.database) for k, s in services.items()}
    assert_no_leftovers({})
    return code, results, len(counter.read_text()) if counter.exists() else 0, restored


@pytest.mark.slow
def test_url_mode_with_databases_catches_a_write_only_drift(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    code, results, resets, restored = _run(run_pair, pair_dir, tmp_path, "dbwrite")
    assert results["errors"] == [], results["errors"]
    assert code == 1
    assert results["config"]["mode"] == "external"
    found = {(f["operation"], f["location"]) for f in results["findings"]}
    assert found == {("POST /items", "db:events.kind")}, found
    assert {t["database"] for t in results["targets"].values()} == {"sqlite"}
    assert not any("no database access" in w for w in results["warnings"])
    assert restored, "each write was rolled back in the user's own database files"
    writes = results["operations"][0]["status_codes"]["legacy"].get("201", 0)
    assert writes > 0
    # reset_command ran once before the first scenario and after every write, watchers or not
    assert resets >= 1 + writes


@pytest.mark.slow
def test_url_mode_with_databases_is_quiet_on_an_agreeing_pair(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    code, results, resets, restored = _run(run_pair, pair_dir, tmp_path, "", "GET /items/{id}")
    assert results["errors"] == [], results["errors"]
    assert code == 0, results["findings"]
    assert results["findings"] == []
    assert results["invariants"], "invariants ran on the user's databases"
    assert restored
    assert resets > 1
    # both SQLite and [services] configured: interop ran on a copy of the legacy's baseline
    assert "interop" in results["config"]["phases"]
    assert results["stats"]["interop"]["reads"] > 0, results["stats"]["notes"]


def test_external_databases_name_both_sides(pair_dir: Path) -> None:
    from harness.errors import HarnessError

    cfg = make_config(pair_dir, extra='\n[external]\ndatabases = { legacy = "a.db" }\n')
    with pytest.raises(HarnessError, match="both sides"):
        load_config(cfg)


def test_external_database_paths_and_urls(pair_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARITY_TEST_PW", "s3cret")
    extra = (
        '\n[external.databases]\nlegacy = "sqlite:///data/a.db"\n'
        'candidate = "postgresql://postgres:${PARITY_TEST_PW}@db:5432/app"\n'
    )
    config = load_config(make_config(pair_dir, extra=extra))
    assert config.external_databases() == {
        "legacy": str((pair_dir / "data" / "a.db").resolve()),
        "candidate": "postgresql://postgres:s3cret@db:5432/app",
    }
    absolute = '\n[external.databases]\nlegacy = "sqlite:////srv/a.db"\ncandidate = "b.db"\n'
    config = load_config(make_config(pair_dir, extra=absolute))
    assert config.external_databases() == {
        "legacy": "/srv/a.db",
        "candidate": str((pair_dir / "b.db").resolve()),
    }
