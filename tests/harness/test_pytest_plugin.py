"""``pytest --parity``: one item per operation and per invariant, from results.json."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "pair"


def _results(verdict: str = "agree", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "verdict": verdict,
        "operations": [
            {"id": "GET /api/cases", "cases": 40, "agreeing": 40},
            {"id": "POST /api/cases", "cases": 40, "agreeing": 38},
            {"id": "GET /api/alerts/{id}", "cases": 40, "agreeing": 39},
        ],
        "invariants": [
            {"name": "counts_match", "passed": True},
            {"name": "case_events_in_order", "skipped": True, "message": "not checked"},
        ],
        "findings": [],
    }
    doc.update(extra)
    return doc


def _write(pytester: pytest.Pytester, doc: dict[str, Any]) -> Path:
    path = pytester.path / "results.json"
    path.write_text(json.dumps(doc))
    return path


def test_inert_without_the_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert "operation[" not in result.stdout.str()


def test_an_agreeing_run_passes_every_operation(pytester: pytest.Pytester) -> None:
    path = _write(pytester, _results())
    result = pytester.runpytest("--parity-results", str(path), "-v", "-rs")
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(
        ["*operation?GET /api/cases?*PASSED*", "*invariant?case_events_in_order?*SKIPPED*"]
    )


def test_drift_fails_only_the_operations_with_unaccepted_findings(
    pytester: pytest.Pytester,
) -> None:
    findings = [
        {
            "operation": "POST /api/cases",
            "kind": "format",
            "location": "body:$.createdAt",
            "count": 2,
            "summary": "'.000Z' vs '+00:00'",
        },
        {
            "operation": "GET /api/alerts/{id}",
            "kind": "missing",
            "location": "body:$.metadata",
            "count": 1,
            "accepted": True,
            "accepted_reason": "OPS-123",
        },
    ]
    invariants = [
        {"name": "counts_match", "passed": False, "message": "candidate: 3 orphan events"},
    ]
    path = _write(pytester, _results("drift", findings=findings, invariants=invariants))
    result = pytester.runpytest("--parity-results", str(path))
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*format at body:$.createdAt (2 cases): '.000Z' vs '+00:00'*",
            "*candidate: 3 orphan events*",
        ]
    )


def test_a_broken_run_fails_every_item(pytester: pytest.Pytester) -> None:
    doc = _results("error", errors=[{"message": "legacy did not start"}])
    result = pytester.runpytest("--parity-results", str(_write(pytester, doc)))
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*proved nothing (verdict error): legacy did not start*"])
    empty = {"verdict": "error", "errors": [{"message": "contract not found"}]}
    result = pytester.runpytest("--parity-results", str(_write(pytester, empty)))
    result.assert_outcomes(failed=1)


@pytest.mark.slow
@pytest.mark.e2e
def test_parity_runs_the_cli_on_the_fixture_pair(pytester: pytest.Pytester) -> None:
    """The real thing: ``pytest --parity`` starts ``parity run`` on the tiny fixture pair."""
    shutil.copytree(FIXTURE, pytester.path / "pair", ignore=shutil.ignore_patterns("__pycache__"))
    result = pytester.runpytest_subprocess(
        "--parity",
        "--parity-config",
        "pair/parity.toml",
        "--parity-profile",
        "dev",
        "--parity-seed",
        "3",
        "-p",
        "no:cacheprovider",
        # its own rootdir even when the temporary folder lies inside a project (a nox
        # session's tmp: pytest would take that project's pyproject.toml as the root)
        "--rootdir",
        str(pytester.path),
        timeout=600,
    )
    results = json.loads((pytester.path / "reports" / "latest" / "results.json").read_text())
    assert results["verdict"] == "agree"
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) == len(results["operations"]) + sum(
        1 for inv in results.get("invariants") or [] if not inv.get("skipped")
    )
    assert "failed" not in outcomes
