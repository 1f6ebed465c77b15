"""A reduced capture still proves what the whole one does: replayed on the managed pair, the
agreeing port stays quiet (its id chains intact: nothing answers 404 that did not before) and
a port drift on a write is still caught."""

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
def reduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    work = tmp_path_factory.mktemp("reduce")
    full, small = work / "sim.jsonl", work / "small.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARITY_TRAFFIC_KEY", "simulated")
        extra = ("--users", "7", "--session-requests", "25")
        assert capture(full, seed_n=5, requests=400, extra=extra) == 0
        assert main(["traffic", "reduce", str(full), "--out", str(small)]) == 0
    return full, small


def _replay(config: Path, traffic: Path, reports: Path) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--config", str(config), "--traffic", str(traffic), "-q"]
    code = main([*argv, "--report-dir", str(reports)])
    found = sorted(reports.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return code, json.loads(found[-1].read_text())


@pytest.mark.parametrize("mutant", [None, "updated-at-not-bumped"])
def test_the_reduced_capture_replays_like_the_whole(
    mutant: str | None, reduced: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    full, small = reduced
    kept = len(small.read_text().splitlines()) - 1
    assert kept < (len(full.read_text().splitlines()) - 1) * 0.6
    config = mutant_config(tmp_path, mutant, snapshot=seeded_database(Path("/tmp/parity-mutants")))
    code, results = _replay(config, small, tmp_path / "r")
    keys = {(f["operation"], f["location"], f["kind"]) for f in results["findings"]}
    if mutant is None:
        assert (code, keys) == (0, set()), results["errors"]
    else:
        assert code == 1
        assert ("PATCH /api/cases/{id}", "db:cases.updated_at", "db_update") in keys
    figures = results["traffic"]["figures"]
    assert figures["not_found_both"] <= figures["requests"] * 0.1, figures
