"""Simulated traffic replayed on the managed shipped pair: the real port agrees (no finding,
no environment drift blamed on it, created ids mapped per side); a port drift is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from tests.mutants.runner import mutant_config
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
        # 3 cases created before the capture starts: the capture's created ids run 3 ahead
        assert capture(out, seed_n=7, requests=250, before=3) == 0
    return out


def _replay(config: Path, traffic: Path, reports: Path) -> tuple[int, dict[str, Any]]:
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--traffic",
            str(traffic),
            "--report-dir",
            str(reports),
            "-q",
        ]
    )
    results = json.loads((reports / "latest" / "results.json").read_text())
    return code, results


def test_the_unmutated_port_agrees_on_simulated_traffic(
    traffic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    config = mutant_config(tmp_path, None)
    # a query parameter the contract does not declare, on the traffic's case reads: both
    # services ignore it (no finding), and the contract-gap list must name it
    planted = tmp_path / "planted.jsonl"
    lines = traffic.read_text().splitlines()
    out = []
    for line in lines:
        record = json.loads(line)
        request = record.get("request") or {}
        if request.get("method") == "GET" and request.get("path") == "/api/cases":
            request["query"] = [*request.get("query", []), ["utm_source", "mail"]]
        out.append(json.dumps(record))
    planted.write_text("\n".join(out) + "\n")
    code, results = _replay(config, planted, tmp_path / "reports")
    assert results["findings"] == [], [f["summary"] for f in results["findings"]]
    assert code == 0, results["messages"]
    notes = " ".join(results["stats"]["notes"])
    assert "replayed 2" in notes
    mapped = int(notes.split(" ids mapped")[0].rsplit(", ", 1)[-1])
    assert mapped >= 1, notes  # the cases the traffic created got other ids in the replay
    for warning in results["warnings"]:
        assert "environment drift, not the port's" in warning or "traffic" not in warning
    summary = results["traffic"]
    assert summary["figures"]["requests"] >= 200
    gaps = {g["operation"]: g for g in summary["gaps"]}
    assert "utm_source" in gaps["GET /api/cases"]["query_parameters"], gaps
    assert all(
        "utm_source" not in g["query_parameters"]
        for op, g in gaps.items()
        if op != "GET /api/cases"
    )
    overlay = (tmp_path / "reports" / "latest" / summary["overlay"]).read_text()
    assert "utm_source" in overlay


def test_a_port_drift_is_caught_by_the_replay(
    traffic: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    config = mutant_config(tmp_path, "updated-at-not-bumped")
    code, results = _replay(config, traffic, tmp_path / "reports")
    assert code == 1
    hits = [f for f in results["findings"] if f["operation"] == "PATCH /api/cases/{id}"]
    assert hits, [f["operation"] for f in results["findings"]]
    assert all(f["phase"] == "traffic" for f in results["findings"])
    example = json.dumps(hits[0]["example"])
    assert "x-parity-capture" in example
    assert "sim.jsonl#" in example
    # the finding names its capture entry, the request as captured, and a chain to replay
    source = hits[0]["capture"]
    assert source["entry"].startswith("sim.jsonl#")
    assert source["request"]["method"] == "PATCH"
    assert source["request"]["path"].startswith("/api/cases/")
    run_dir = tmp_path / "reports" / "latest"
    chain = run_dir / source["chain"]
    lines = chain.read_text().splitlines()
    assert len(lines) == source["chain_length"] + 1  # the header, then the entries
    assert json.loads(lines[-1])["seq"] == source["seq"]
    script = (run_dir / hits[0]["replay"]).read_text()
    assert "--chain" in script
    assert source["chain"] in script
    # the chain alone, replayed from the snapshot, shows the same drift on one of its own
    # entries (every PATCH of the chain shows it: the finding's example is the smallest,
    # which need not be the entry the whole capture's finding named)
    in_chain = {json.loads(line)["seq"] for line in lines[1:]}
    assert source["seq"] in in_chain
    again, results2 = _replay(config, chain, tmp_path / "reports2")
    assert again == 1
    assert any(
        f["operation"] == "PATCH /api/cases/{id}" and f["capture"]["seq"] in in_chain
        for f in results2["findings"]
    ), [(f["operation"], f["capture"]) for f in results2["findings"]]
