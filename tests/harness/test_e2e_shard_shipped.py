"""``--shard 1/2`` + ``--shard 2/2`` merged equal one unsharded run on the shipped pair: the
legacy against a mutant of the port, the same seed, the same cases and the same findings,
the mutant's among them (so the comparison is between two runs that found something).

Kept cheap for CI: four operations on three paths, a few cases each, a few short stateful
sequences, invariants on; the seed is built once and copied (tests/mutants/verify.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.harness.test_e2e_shard import _cases, _findings, _latest
from tests.mutants.catalogue import get
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

MUTANT = "event-missing"  # POST /api/cases writes the case but not its case.created event
OPERATIONS = ("POST /api/cases", "GET /api/cases/{id}", "PATCH /api/cases/{id}", "GET /api/alerts")
PROFILE = {
    "shard": {
        "positive": 5,
        "negative": 2,
        "invariants": True,
        "stateful_sequences": 3,
        "max_steps": 3,
        "pool": 4,
        "shrink": False,  # findings are compared by key and count; shrinking only costs
        "cache": False,
    }
}


def _run(config: Path, reports: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--config", str(config), "--profile", "shard", "--seed", "5"]
    argv += ["--report-dir", str(reports), "-q", *extra]
    for op in OPERATIONS:
        argv += ["--operation", op]
    code = main(argv)
    return code, _latest(reports)


def test_shards_merged_equal_one_run_on_the_shipped_pair_with_a_mutant(tmp_path: Path) -> None:
    assert set(get(MUTANT).operations) <= set(OPERATIONS)
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    config = mutant_config(tmp_path, MUTANT, snapshot=snapshot, extra_profiles=PROFILE)

    code, whole = _run(config, tmp_path / "whole")
    assert code == 1, whole.get("errors")
    mutated = [f for f in whole["findings"] if f["operation"] in get(MUTANT).operations]
    assert any(f["location"].startswith(("db:events", "invariant:")) for f in mutated), mutated

    shards = []
    for index in (1, 2):  # each shard on its own report dir: the same (empty) cost history
        _code, shard = _run(config, tmp_path / f"shard{index}", "--shard", f"{index}/2")
        assert shard["shard"]["index"] == index, shard.get("errors")
        shards.append(shard)
    one, two = (s["shard"] for s in shards)
    assert one["plan"] == two["plan"]
    assert set(one["operations"]).isdisjoint(two["operations"])
    assert one["operations"], "both shards must have work"
    assert two["operations"], "both shards must have work"

    dirs = [str(tmp_path / f"shard{i}" / s["run_id"]) for i, s in zip((1, 2), shards, strict=True)]
    merged_dir = tmp_path / "merged"
    code = main(["merge", *dirs, "--report-dir", str(merged_dir), "-q"])
    merged = _latest(merged_dir)
    assert code == 1
    assert merged["verdict"] == whole["verdict"] == "drift"
    assert _cases(merged) == _cases(whole)
    assert _findings(merged) == _findings(whole)
    assert merged["coverage"] == whole["coverage"]
    assert merged["stats"]["stateful"]["sequences"] == whole["stats"]["stateful"]["sequences"]
    assert merged["config"]["operations"] == whole["config"]["operations"]
