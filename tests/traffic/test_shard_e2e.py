"""``--traffic`` with ``--workers 2``: each worker replays whole caller sessions in capture
order on its own pair; the merged results equal one run's (the agreeing port quiet in both, a
port drift found at the same places in both)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built
from tests.traffic.simulate import capture

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("traffic") / "sim.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARITY_TRAFFIC_KEY", "simulated")
        assert capture(out, seed_n=11, requests=200, before=2) == 0
    return out


def _run(config: Path, traffic: Path, reports: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--config", str(config), "--traffic", str(traffic), *extra]
    code = main([*argv, "--report-dir", str(reports), "-q"])
    found = sorted(reports.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return code, json.loads(found[-1].read_text())


def _keys(results: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(f["operation"], f["location"], f["kind"]) for f in results["findings"]}


def _named(keys: set[tuple[str, str, str]]) -> set[tuple[str, str, str]]:
    """The findings on requests that name their rows: a read of a whole collection (a list,
    an export, a count, a search: a GET without a path parameter) sees only its own shard's
    writes (README, Shards), so a drift it shows in one run can be out of a shard's sight."""
    return {k for k in keys if not (k[0].startswith("GET ") and "{" not in k[0])}


@pytest.mark.parametrize("mutant", [None, "updated-at-not-bumped"])
def test_two_workers_replay_what_one_run_replays(
    mutant: str | None, traffic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    snapshot = seeded_database(Path("/tmp/parity-mutants"))
    config = mutant_config(tmp_path, mutant, snapshot=snapshot)
    one_code, one = _run(config, traffic, tmp_path / "one")
    two_code, two = _run(config, traffic, tmp_path / "two", "--workers", "2")
    assert (one_code, two_code) == ((1, 1) if mutant else (0, 0)), (one["errors"], two["errors"])
    assert _named(_keys(two)) == _named(_keys(one))
    assert _keys(two) <= _keys(one)  # a shard sees fewer of the other sessions' writes
    if mutant:
        assert ("PATCH /api/cases/{id}", "db:cases.updated_at", "db_update") in _keys(two)
    else:
        assert two["findings"] == []
    figures = two["traffic"]["figures"]
    assert figures["requests"] == one["traffic"]["figures"]["requests"]
    # (ids_mapped may differ: a shard creates fewer rows, so more of its ids differ from
    # the captured ones and need a mapping)
    assert "traffic: replayed" in " ".join(two["stats"]["notes"])
