"""``--shard i/n`` + ``parity merge`` and ``--workers N`` on the fixture pair, drift on: the
same cases and the same findings as one unsharded run with the same seed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.reporting.results import load_results
from tests.harness.conftest import RunPair, assert_no_leftovers

pytestmark = pytest.mark.e2e

DRIFT = "value,order,dbwrite,nopersist"
# stateless, rows, probes, invariants and stateful sequences, kept small
PROFILE = """
[profiles.shard]
positive = 10
negative = 5
invariants = true
stateful_sequences = 8
max_steps = 3
# reads after writes on: their findings are their own phase's, whatever the shard found
# before, and a merge drops those a single request showed, as one run does
reads_after_writes = 4
"""


def _cases(results: dict[str, Any]) -> dict[str, int]:
    return {op["id"]: op["cases"] for op in results["operations"]}


def _findings(results: dict[str, Any]) -> dict[tuple[str, str, str, str], int]:
    """Every finding but a sequence's time found on its own: two stamps a few ms apart in
    a sequence are explained by a request's window or not as the machine's timing goes
    (``Clock.stamped``), so such a finding may head its own entry in one run and join
    another finding in the next; everything else must be the same."""
    return {
        (f["phase"], f["operation"], f["location"], f["kind"]): f["count"]
        for f in results["findings"]
        if not (f["kind"] == "time" and f["phase"] in ("stateful", "readback"))
    }


def _latest(reports: Path) -> dict[str, Any]:
    return load_results(reports / "latest" / "results.json").model_dump(mode="json")


def test_shards_merged_equal_one_run(run_pair: RunPair, tmp_path: Path) -> None:
    args = ("--seed", "3", "--profile", "shard")
    code, whole = run_pair(*args, drift=DRIFT, extra=PROFILE)
    assert code == 1, whole.get("errors")
    assert _findings(whole), "the drift must show"
    shards = []
    for index in (1, 2):
        code, shard = run_pair(*args, "--shard", f"{index}/2", drift=DRIFT, extra=PROFILE)
        assert shard["shard"]["index"] == index
        shards.append(shard)
    one, two = (s["shard"] for s in shards)
    assert one["plan"] == two["plan"]
    assert set(one["operations"]).isdisjoint(two["operations"])
    assert sorted(one["operations"] + two["operations"]) == sorted(whole["config"]["operations"])
    assert sorted(one["sequences"] + two["sequences"]) == list(range(8))
    # the gate of a shard is about its own operations only
    assert {u["operation"] for u in shards[0]["unproven"]} <= set(one["operations"])

    reports = tmp_path / "reports"
    dirs = [str(reports / s["run_id"]) for s in shards]
    merged_dir = tmp_path / "merged"
    code = main(["merge", *dirs, "--report-dir", str(merged_dir), "-q"])
    merged = _latest(merged_dir)
    assert code == 1
    assert merged["verdict"] == whole["verdict"] == "drift"
    assert _cases(merged) == _cases(whole)
    assert _findings(merged) == _findings(whole)
    assert any("readback" in (f["phase"], *f["phases"]) for f in whole["findings"]), (
        "reads after writes ran"
    )
    assert merged["coverage"] == whole["coverage"]
    assert merged["unproven"] == whole["unproven"]
    assert merged["stats"]["stateful"]["sequences"] == 8
    assert [s["index"] for s in merged["stats"]["shards"]] == [1, 2]
    assert merged["config"]["operations"] == whole["config"]["operations"]
    for name in ("parity.html", "junit.xml", "summary.md"):
        assert (merged_dir / merged["run_id"] / name).is_file()

    # one shard missing: never agree
    alone = tmp_path / "alone"
    code = main(["merge", dirs[0], "--report-dir", str(alone), "-q"])
    result = _latest(alone)
    assert code == 2
    assert result["verdict"] == "error"
    assert any("2/2" in e["message"] and "missing" in e["message"] for e in result["errors"])


def test_a_missing_shard_of_an_agreeing_pair_is_an_error(run_pair: RunPair, tmp_path: Path) -> None:
    code, shard = run_pair("--seed", "3", "--shard", "2/3", "--operation", "GET /items*")
    assert code == 0, shard.get("errors")
    out = tmp_path / "merged"
    code = main(["merge", str(tmp_path / "reports" / shard["run_id"]), "--report-dir", str(out)])
    result = _latest(out)
    assert (code, result["verdict"]) == (2, "error")
    assert "2 of 3 shards missing (1/3, 3/3)" in result["errors"][0]["message"]
    # nothing at all to merge is an error too
    code = main(["merge", str(tmp_path / "nothing"), "--report-dir", str(out)])
    assert code == 2


def test_workers_give_one_run(run_pair: RunPair, tmp_path: Path) -> None:
    args = ("--seed", "3", "--profile", "shard")
    _, whole = run_pair(*args, drift=DRIFT, extra=PROFILE)
    code, merged = run_pair(*args, "--workers", "2", drift=DRIFT, extra=PROFILE)
    assert code == 1, merged.get("errors")
    assert merged.get("shard") is None
    assert len(merged["stats"]["shards"]) == 2
    assert _cases(merged) == _cases(whole)
    assert _findings(merged) == _findings(whole)
    run_dir = tmp_path / "reports" / merged["run_id"]
    assert (run_dir / "workers" / "plan.json").is_file()
    assert (run_dir / "parity.html").is_file()
    assert_no_leftovers(merged)
