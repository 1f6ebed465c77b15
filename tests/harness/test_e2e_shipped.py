"""The shipped pair (legacy Next.js + FastAPI port) under ``parity run --profile dev``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.conftest import assert_no_leftovers

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(
    not (ROOT / "legacy" / ".next" / "BUILD_ID").is_file(), reason="legacy is not built"
)
def test_shipped_pair_agrees_under_dev_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code = main(["run", "--profile", "dev", "--seed", "1", "--report-dir", str(tmp_path), "-q"])
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    assert_no_leftovers(results)
    drift = [
        f"{f['operation']} {f['location']} {f['kind']}: {f['summary']}"
        for f in results["findings"]
        if not f["accepted"]
    ]
    assert results["errors"] == []
    assert code == 0, "the port drifts from the legacy:\n" + "\n".join(drift)
    assert results["coverage"]["operations_exercised"] == results["coverage"]["operations_total"]


@pytest.mark.skipif(
    not (ROOT / "legacy" / ".next" / "BUILD_ID").is_file(), reason="legacy is not built"
)
def test_a_run_that_proves_nothing_does_not_pass_the_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Viewers may not update cases: every case answers 403 on both sides. The pair agrees
    on everything it saw, and yet nothing was proven for the operation."""
    from tests.mutants.runner import mutant_config

    viewer = {"positive": 6, "negative": 2, "roles": ["viewer"], "probes": False}
    config = mutant_config(tmp_path, None, extra_profiles={"viewer": viewer})
    monkeypatch.chdir(ROOT)
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--profile",
            "viewer",
            "--operation",
            "PATCH /api/cases/{id}",
            "--seed",
            "1",
            "--report-dir",
            str(tmp_path / "reports"),
            "-q",
        ]
    )
    results = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    assert results["findings"] == []
    assert code == 2
    assert results["verdict"] == "incomplete"
    assert [u["operation"] for u in results["unproven"]] == ["PATCH /api/cases/{id}"]
    assert "no case got a documented 2xx" in results["unproven"][0]["reason"]
    junit = (tmp_path / "reports" / "latest" / "junit.xml").read_text()
    assert "nothing was proven" in junit
