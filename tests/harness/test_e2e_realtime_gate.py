"""The realtime phase on the shipped pair (issue 24): every write operation, those on
existing rows too, as the roles that may call it, while both streams are open; its writes
succeed and their events are compared, so a port that drops an event of a write on an
existing row is caught."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
PROFILE = {
    "positive": 4,
    "negative": 0,
    "probes": False,
    "invariants": False,
    "shrink": False,
    "realtime": True,
}


def _run(tmp_path: Path, mutant: str | None, *args: str) -> tuple[int, dict[str, Any]]:
    from tests.mutants.runner import mutant_config

    tmp_path.mkdir(parents=True, exist_ok=True)
    config = mutant_config(tmp_path, mutant, extra_profiles={"rt": PROFILE})
    reports = tmp_path / "reports"
    run = ["run", "--config", str(config), "--profile", "rt", "--seed", "1"]
    code = main([*run, "--report-dir", str(reports), "-q", *args])
    return code, json.loads((reports / "latest" / "results.json").read_text())


@pytest.mark.skipif(
    not (ROOT / "legacy" / ".next" / "BUILD_ID").is_file(), reason="legacy is not built"
)
def test_realtime_writes_succeed_and_their_events_are_compared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    code, results = _run(tmp_path / "agree", None)
    assert (code, results["verdict"]) == (0, "agree"), results["messages"]
    rt = results["stats"]["realtime"]
    assert rt["writes"] > 0
    assert rt["succeeded"] >= rt["writes"] / 2, rt  # proven: not a phase of 401s
    assert rt["messages"] > 0, rt
    assert rt["row_writes_with_events"] > 0, rt  # writes on existing rows produced events
    assert "realtime" not in {p["phase"] for p in results["unproven_phases"]}

    # the port never sends case.assigned (a write on an existing row): caught on the stream
    # (aimed at the write it mutates: the agreeing run above has covered every other one)
    code, results = _run(
        tmp_path / "drop",
        "realtime-drops-case-assigned",
        "--operation",
        "POST /api/cases/{id}/assign",
    )
    assert code == 1, results["messages"]
    caught = {
        (f["operation"], f["phase"])
        for f in results["findings"]
        if f["location"].startswith("realtime:") and not f["accepted"]
    }
    assert ("POST /api/cases/{id}/assign", "realtime") in caught, caught
