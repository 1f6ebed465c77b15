from __future__ import annotations

from pathlib import Path
from typing import Any

from junitparser import Failure, JUnitXml

from harness.reporting.junit import write_junit
from harness.reporting.summary import render_summary


def _cases(path: Path) -> dict[str, Any]:
    xml = JUnitXml.fromfile(str(path))
    return {case.name: case for suite in xml for case in suite}


def test_junit_counts_every_operation_and_invariant(
    drifting: dict[str, Any], tmp_path: Path
) -> None:
    path = write_junit(drifting, tmp_path / "junit.xml")
    cases = _cases(path)
    assert set(cases) == {op["id"] for op in drifting["operations"]} | {
        i["name"] for i in drifting["invariants"]
    }
    failed = {
        name for name, case in cases.items() if any(isinstance(r, Failure) for r in case.result)
    }
    assert failed == {"GET /api/cases", "POST /api/cases", "every_write_leaves_one_event"}
    text = path.read_text()
    assert "format at body:$.data[*].createdAt" in text
    assert 'tests="6"' in text
    assert 'failures="3"' in text


def test_junit_agreeing_run_has_no_failure(agreeing: dict[str, Any], tmp_path: Path) -> None:
    path = write_junit(agreeing, tmp_path / "junit.xml")
    cases = _cases(path)
    assert len(cases) == 6
    assert all(not case.result for case in cases.values())


def test_junit_error_run_has_an_error_case(agreeing: dict[str, Any], tmp_path: Path) -> None:
    agreeing.update(
        verdict="error",
        exit_code=2,
        errors=[{"kind": "service", "message": "port died", "log_tail": "Traceback..."}],
    )
    text = write_junit(agreeing, tmp_path / "junit.xml").read_text()
    assert 'errors="1"' in text
    assert "port died" in text


def test_summary_names_verdict_and_findings(drifting: dict[str, Any]) -> None:
    text = render_summary(drifting)
    assert text.startswith("## ❌ parity: DRIFT")
    assert "`GET /api/cases`" in text
    assert "f-accept01" not in text
    assert "format" in text


def test_an_invariant_never_checked_is_skipped_not_passed(
    agreeing: dict[str, Any], tmp_path: Path
) -> None:
    from junitparser import Skipped

    from harness.reporting.html import render_html

    agreeing["invariants"].append(
        {
            "name": "alert_count_matches_rows",
            "passed": True,
            "skipped": True,
            "checks": 0,
            "message": "not checked: no step of this run wrote alerts",
        }
    )
    path = write_junit(agreeing, tmp_path / "junit.xml")
    case = _cases(path)["alert_count_matches_rows"]
    assert [type(r) for r in case.result] == [Skipped]
    assert 'skipped="1"' in path.read_text()
    html = render_html(agreeing)
    assert '<span class="tag warn">not checked</span>' in html
    assert '2/2</b><span class="small">hold on both sides; 1 not checked' in html
