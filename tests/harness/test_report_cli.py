from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from harness.cli import main
from harness.reporting.jsonout import update_latest, write_results
from harness.reporting.results import Results


def _results() -> Results:
    """A minimal but valid results document (schema version 2)."""
    step = {
        "request": {
            "method": "GET",
            "path": "/x",
            "query": {},
            "headers": {},
            "role": None,
            "mode": "positive",
        },
        "legacy": {"status": 200, "headers": {}, "elapsed_ms": 1.0},
        "candidate": {"status": 500, "headers": {}, "elapsed_ms": 1.0},
        "curl": {"legacy": "curl -X GET http://a/x"},
    }
    return Results.model_validate(
        {
            "run_id": "r1",
            "verdict": "drift",
            "exit_code": 1,
            "started_at": "2026-12-01T00:00:00Z",
            "finished_at": "2026-12-01T00:00:01Z",
            "duration_s": 1.0,
            "interrupted": False,
            "config": {
                "profile": "ci",
                "seed": 3,
                "mode": "managed",
                "contract": "c",
                "config": "p",
                "operations": ["GET /x"],
                "phases": ["stateless"],
            },
            "targets": {},
            "environment": {},
            "operations": [
                {
                    "id": "GET /x",
                    "method": "GET",
                    "path": "/x",
                    "operation_id": None,
                    "cases": 3,
                    "agreeing": 2,
                    "findings": 1,
                    "accepted": 0,
                    "proven": True,
                    "status_codes": {"legacy": {"200": 3}, "candidate": {"200": 2, "500": 1}},
                    "latency_ms": {
                        "legacy": {"p50": 1.0, "p95": 1.0, "max": 1.0},
                        "candidate": {"p50": 2.0, "p95": 2.0, "max": 2.0},
                    },
                }
            ],
            "findings": [
                {
                    "id": "f-1",
                    "phase": "stateless",
                    "operation": "GET /x",
                    "location": "status:200 vs 500",
                    "kind": "status",
                    "summary": "status 200 vs 500",
                    "count": 1,
                    "accepted": False,
                    "accepted_reason": None,
                    "accepted_expires": None,
                    "example": {"steps": [step], "diff": [], "other_diffs": [], "db_writes": {}},
                }
            ],
            "causes": [],
            "accepted": [],
            "noise": [],
            "invariants": [],
            "coverage": {
                "operations_total": 1,
                "operations_exercised": 1,
                "operations_proven": 1,
                "responses_total": 1,
                "responses_seen": 1,
            },
            "unproven": [],
            "errors": [],
            "messages": [],
            "warnings": [],
            "stats": {
                "exchanges": 3,
                "cases_drawn": 3,
                "duplicates_dropped": 0,
                "unencodable_dropped": 0,
                "generation_errors": [],
                "generation_errors_by_type": {},
                "restores": 0,
                "case_cache_hits": 0,
                "timings_s": {},
                "invariant_findings": False,
                "stateful": {},
                "interop": {},
                "notes": [],
            },
        }
    )


def test_report_rerenders_from_results_and_calls_the_reporters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "reports" / "r1"
    path = write_results(_results(), run_dir)
    latest = update_latest(run_dir)
    assert json.loads((latest / "results.json").read_text())["run_id"] == "r1"
    calls: list[str] = []
    fake = types.ModuleType("harness.reporting.html")

    def write_html(results: Results, out: Path) -> None:
        calls.append(results.run_id)
        out.write_text("<html></html>")

    fake.write_html = write_html  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness.reporting.html", fake)
    out = tmp_path / "out"
    assert main(["report", str(path), "--out", str(out)]) == 1
    assert calls == ["r1"]
    assert (out / "parity.html").is_file()
    assert (out / "junit.xml").is_file()
    text = capsys.readouterr().out
    assert "status 200 vs 500" in text
    assert "DRIFT" in text


def test_results_of_another_schema_version_are_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_results(_results(), tmp_path / "r1")
    data = json.loads(path.read_text())
    data["schema_version"] = 1
    del data["causes"]  # a key version 2 added: a real version 1 document lacks it
    path.write_text(json.dumps(data))
    assert main(["report", str(path)]) == 2
    assert "schema_version 1" in capsys.readouterr().err
    data["schema_version"] = 3
    path.write_text(json.dumps(data))
    assert main(["report", str(path)]) == 2
    assert "schema_version 3" in capsys.readouterr().err


def test_results_without_a_schema_version_are_read_as_version_1(tmp_path: Path) -> None:
    """Versions only add keys: an older document that has what parity needs is read."""
    from harness.reporting.results import SCHEMA_VERSION, load_results

    path = write_results(_results(), tmp_path / "r1")
    data = json.loads(path.read_text())
    del data["schema_version"]
    path.write_text(json.dumps(data))
    assert load_results(path).schema_version == SCHEMA_VERSION
    assert main(["coverage", str(path)]) == 0


def test_the_checked_in_json_schema_matches_the_models() -> None:
    from harness.reporting.results import SCHEMA_FILE, json_schema

    assert SCHEMA_FILE.read_text(encoding="utf-8") == json_schema(), (
        "docs/results.schema.json is stale: run python -m harness.reporting.results --write"
    )


def test_the_config_reference_matches_the_model() -> None:
    from harness.setup.config import REFERENCE_FILE, reference_markdown

    assert REFERENCE_FILE.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/config-reference.md is stale: run python -m harness.setup.config --write"
    )


def test_report_on_a_broken_file_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "results.json"
    bad.write_text("{nope")
    assert main(["report", str(bad)]) == 2
    bad.write_text('{"schema_version": 99}')
    assert main(["report", str(bad)]) == 2
