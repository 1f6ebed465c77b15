"""The shipped invariants hold on a seeded database, and each one catches its own breakage."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.db.invariants import StepInfo, compare_outcomes, load_invariants, run_invariants
from tests.servers import ROOT, seed

# a database seeded by the legacy's seed (npx tsx)
pytestmark = pytest.mark.integration

INVARIANTS = load_invariants(ROOT / "contracts" / "invariants.py")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npx") is None or not (ROOT / "legacy" / "node_modules").is_dir():
        pytest.skip("the legacy seed needs `npm ci` in legacy/")
    path = tmp_path_factory.mktemp("inv") / "seed.db"
    seed(path, "--cases", "40", "--alerts", "30", "--feed", "12")
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "target.db"
    shutil.copyfile(template, path)
    return path


def counts_api(db: Path) -> Callable[[str], tuple[int, Any]]:
    """What GET /api/alerts/count answers, computed from the rows (a faithful target)."""

    def get(_path: str) -> tuple[int, Any]:
        with sqlite3.connect(db) as conn:
            total = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
            sev = dict(conn.execute("SELECT severity, count(*) FROM alerts GROUP BY 1").fetchall())
            st = dict(conn.execute("SELECT status, count(*) FROM alerts GROUP BY 1").fetchall())
        return 200, {
            "total": total,
            "bySeverity": {k: sev.get(k, 0) for k in ("info", "warning", "critical")},
            "byStatus": {k: st.get(k, 0) for k in ("active", "acknowledged", "resolved")},
        }

    return get


def failures(db: Path, step: StepInfo | None = None, api: Any = None) -> dict[str, str]:
    results = run_invariants(INVARIANTS, db, step=step, api=api)
    return {r.name: r.message for r in results if not r.passed and not r.skipped}


GOOD_STEP = StepInfo(
    "POST",
    "/api/cases",
    201,
    {"cases": {"inserted": [{"id": 1}]}, "events": {"inserted": [{"id": 1}]}},
)


def test_all_hold_on_the_seed(db: Path) -> None:
    assert len(INVARIANTS) >= 7
    assert failures(db, GOOD_STEP, counts_api(db)) == {}


def _sql(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = OFF")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


BREAKAGES: list[tuple[str, list[str]]] = [
    ("foreign_keys_hold", ["UPDATE alerts SET case_id = 99999 WHERE id = 1"]),
    (
        "no_session_outlives_its_user",
        [
            "INSERT INTO sessions (token, user_id, expires_at) VALUES ('t', 424242, '2099-01-01T00:00:00.000Z')"
        ],
    ),
    (
        "updated_at_not_before_created_at",
        ["UPDATE cases SET updated_at = '2000-01-01T00:00:00.000Z' WHERE id = 2"],
    ),
    (
        "fts_in_step_with_base_tables",
        [
            "DROP TRIGGER cases_fts_ai",
            "INSERT INTO cases (title, channel, category, business_unit, customer_name) VALUES ('x','web','c','smb','n')",
        ],
    ),
]


@pytest.mark.parametrize(("invariant", "statements"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_each_database_breakage_is_caught(db: Path, invariant: str, statements: list[str]) -> None:
    _sql(db, *statements)
    broken = failures(db, GOOD_STEP, counts_api(db))
    assert invariant in broken, broken
    assert broken[invariant]


def test_fts_check_is_skipped_only_for_steps_that_wrote_no_indexed_table(db: Path) -> None:
    """Each step starts from a checked baseline, so one that wrote rows, none in an indexed
    table, skips the costly FTS copy; a step that did write an indexed table, or no step at
    all, still gets the full check."""
    _sql(db, *dict(BREAKAGES)["fts_in_step_with_base_tables"])
    session_only = StepInfo("POST", "/api/auth/login", 200, {"sessions": {"inserted": [{}]}})
    assert "fts_in_step_with_base_tables" not in failures(db, session_only, counts_api(db))
    # a step that wrote another indexed table checks that table's index only
    alerts_only = StepInfo("POST", "/api/alerts", 201, {"alerts": {"inserted": [{}]}})
    assert "fts_in_step_with_base_tables" not in failures(db, alerts_only, counts_api(db))
    assert "fts_in_step_with_base_tables" in failures(db, GOOD_STEP, counts_api(db))
    assert "fts_in_step_with_base_tables" in failures(db, None, counts_api(db))
    nothing_seen = StepInfo("GET", "/api/cases", 200, {})
    assert "fts_in_step_with_base_tables" in failures(db, nothing_seen, counts_api(db))


def test_alert_count_must_equal_its_rows(db: Path) -> None:
    def wrong(_path: str) -> tuple[int, Any]:
        status, body = counts_api(db)(_path)
        body["bySeverity"]["info"] += 1
        return status, body

    acknowledged = StepInfo(
        "POST", "/api/alerts/1/acknowledge", 200, {"alerts": {"updated": [{"id": 1}]}}
    )
    assert "alert_count_matches_rows" in failures(db, acknowledged, wrong)
    # checked only after a step that wrote alerts (or with no step at all)
    assert "alert_count_matches_rows" not in failures(db, GOOD_STEP, wrong)
    assert "alert_count_matches_rows" in failures(db, None, wrong)


def test_a_check_that_crashes_is_a_broken_invariant_not_a_crashed_run(db: Path) -> None:
    def flattened(_path: str) -> tuple[int, Any]:
        status, body = counts_api(db)(_path)
        return status, {"total": body["total"], "info": 1}  # no bySeverity: KeyError

    broken = failures(db, None, flattened)
    assert "KeyError('bySeverity')" in broken["alert_count_matches_rows"]


@pytest.mark.parametrize(
    ("step", "invariant"),
    [
        (
            StepInfo("POST", "/api/cases", 201, {"cases": {"inserted": [{"id": 9}]}}),
            "every_write_leaves_one_event",
        ),
        (
            StepInfo("POST", "/api/cases", 403, {"events": {"inserted": [{"id": 9}]}}),
            "every_write_leaves_one_event",
        ),
        (
            StepInfo("POST", "/api/cases", 201, {"events": {"inserted": [{"id": 1}, {"id": 2}]}}),
            "every_write_leaves_one_event",
        ),
        (
            StepInfo(
                "POST",
                "/api/upload",
                201,
                {
                    "uploads": {"inserted": [{"id": 1, "rows_imported": 3, "status": "processed"}]},
                    "cases": {"inserted": [{"id": 1}, {"id": 2}]},
                    "events": {"inserted": [{"id": 5}]},
                },
            ),
            "upload_counts_match_rows",
        ),
    ],
)
def test_each_step_breakage_is_caught(db: Path, step: StepInfo, invariant: str) -> None:
    assert invariant in failures(db, step)


def test_one_side_only_is_drift_both_sides_is_a_legacy_bug(db: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    shutil.copyfile(db, other)
    _sql(other, "UPDATE alerts SET case_id = 99999 WHERE id = 1")
    outcomes = {
        o.name: o.verdict
        for o in compare_outcomes(run_invariants(INVARIANTS, db), run_invariants(INVARIANTS, other))
    }
    assert outcomes["foreign_keys_hold"] == "candidate"
    _sql(db, "UPDATE alerts SET case_id = 99999 WHERE id = 1")
    outcomes = {
        o.name: o.verdict
        for o in compare_outcomes(run_invariants(INVARIANTS, db), run_invariants(INVARIANTS, other))
    }
    assert outcomes["foreign_keys_hold"] == "both"
