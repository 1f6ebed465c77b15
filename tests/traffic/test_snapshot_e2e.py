"""A capture that names the database it started from is replayed on copies of that database:
a case that exists only there is read and changed on both sides (the agreeing port quiet, a
port drift on it caught); without the snapshot the same traffic finds nothing; a snapshot
that names no file is exit 2 before any service starts."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    Exchange,
    Header,
    Timings,
)
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

CASE = 9001  # a row the seed does not have
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _state(tmp: Path) -> Path:
    """The seeded database plus one case, as production might hold it."""
    db = shutil.copyfile(seeded_database(Path("/tmp/parity-mutants")), tmp / "state.db")
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO cases (id, title, description, channel, status, category, priority, "
        "business_unit, customer_name, created_at, updated_at) VALUES (?, 'Pallet lost in "
        "Kiruna', 'only in production', 'email', 'open', 'shipping', 'high', 'retail', "
        "'Ada Byron', '2026-01-04T10:00:00.000Z', '2026-01-04T10:00:00.000Z')",
        (CASE,),
    )
    conn.commit()
    conn.close()
    return db


def _capture(path: Path, snapshot: str | None) -> Path:
    auth = [("authorization", "Bearer captured")]
    steps: list[tuple[str, str, Any]] = [
        ("GET", f"/api/cases/{CASE}", None),
        ("PATCH", f"/api/cases/{CASE}", {"status": "in_progress"}),
        ("GET", f"/api/cases/{CASE}", None),
        ("GET", f"/api/cases/{CASE}", None),
    ]
    exchanges = [
        Exchange(
            seq=n,
            request=CapturedRequest(
                method=method,
                path=p,
                headers=[*auth, ("content-type", "application/json")] if body else auth,
                body=Body(media_type="application/json", text=json.dumps(body)) if body else None,
            ),
            answer=CapturedAnswer(status=200),
            timings=Timings(started=T0),
        )
        for n, (method, p, body) in enumerate(steps)
    ]
    Capture(Header(created=T0, snapshot=snapshot, source="test"), exchanges).write(path)
    return path


def _replay(config: Path, traffic: Path, reports: Path) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--config", str(config), "--traffic", str(traffic)]
    code = main([*argv, "--report-dir", str(reports), "-q"])
    found = sorted(reports.glob("*/results.json"))
    return code, json.loads(found[-1].read_text()) if found else {}


def test_both_sides_start_from_the_captures_snapshot(tmp_path: Path) -> None:
    state = _state(tmp_path)
    before = state.read_bytes()
    traffic = _capture(tmp_path / "prod.jsonl", "state.db")  # beside the capture
    snapshot = seeded_database(Path("/tmp/parity-mutants"))
    config = mutant_config(tmp_path, None, snapshot=snapshot)
    code, results = _replay(config, traffic, tmp_path / "agree")
    assert results["findings"] == [], [f["summary"] for f in results["findings"]]
    assert code == 0, results.get("messages")
    notes = " ".join(results["stats"]["notes"])
    assert "started from the capture's snapshot 'state.db'" in notes
    assert results["traffic"]["figures"]["not_found_both"] == 0
    assert state.read_bytes() == before  # the user's file is only copied

    drifted = mutant_config(tmp_path, "case-field-dropped", snapshot=snapshot)
    code, results = _replay(drifted, traffic, tmp_path / "drift")
    assert code == 1
    assert {f["operation"] for f in results["findings"]} == {"GET /api/cases/{id}"}

    # the same traffic on the configured snapshot finds nothing to act on
    plain = _capture(tmp_path / "plain.jsonl", None)
    code, results = _replay(config, plain, tmp_path / "plain")
    assert code == 2
    assert results["traffic"]["figures"]["not_found_both"] == 4


def test_a_snapshot_that_is_not_there_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    traffic = _capture(tmp_path / "prod.jsonl", "nightly-2026-01-05.db")
    config = mutant_config(tmp_path, None, snapshot=seeded_database(Path("/tmp/parity-mutants")))
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--traffic",
            str(traffic),
            "--report-dir",
            str(tmp_path / "r"),
            "-q",
        ]
    )
    assert code == 2
    seen = capsys.readouterr()
    err = seen.out + seen.err
    assert "nightly-2026-01-05.db" in err
    assert "no such SQLite file" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*/results.json"))
