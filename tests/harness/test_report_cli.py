from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.reporting.jsonout import update_latest, write_results

RESULTS: dict[str, Any] = {
    "schema_version": 1,
    "run_id": "r1",
    "verdict": "drift",
    "exit_code": 1,
    "duration_s": 1.0,
    "config": {"seed": 3},
    "operations": [
        {
            "id": "GET /x",
            "cases": 3,
            "agreeing": 2,
            "findings": 1,
            "accepted": 0,
            "latency_ms": {"legacy": {"p50": 1.0}, "candidate": {"p50": 2.0}},
        }
    ],
    "findings": [
        {
            "id": "f-1",
            "operation": "GET /x",
            "location": "status",
            "kind": "status",
            "summary": "status 200 vs 500",
            "count": 1,
            "accepted": False,
            "example": {"steps": [{"curl": {"legacy": "curl -X GET http://a/x"}}]},
        }
    ],
    "errors": [],
    "messages": [],
}


def test_report_rerenders_from_results_and_calls_optional_reporters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "reports" / "r1"
    path = write_results(RESULTS, run_dir)
    latest = update_latest(run_dir)
    assert json.loads((latest / "results.json").read_text())["run_id"] == "r1"
    calls: list[str] = []
    fake = types.ModuleType("harness.reporting.html")

    def write_html(results: dict[str, Any], out: Path) -> None:
        calls.append(results["run_id"])
        out.write_text("<html></html>")

    fake.write_html = write_html  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.reporting.html", fake)
    out = tmp_path / "out"
    assert main(["report", str(path), "--out", str(out)]) == 1
    assert calls == ["r1"]
    assert (out / "parity.html").is_file()
    text = capsys.readouterr().out
    assert "status 200 vs 500" in text
    assert "DRIFT" in text


def test_report_on_a_broken_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{nope")
    assert main(["report", str(bad)]) == 2
    bad.write_text('{"schema_version": 99}')
    assert main(["report", str(bad)]) == 2
