"""The runtime route table: validated shifts, atomic state file, change log, restart."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.gateway.policy import PolicyError
from harness.gateway.state import RouteTable, log_path

DEFAULTS: dict[str, tuple[str, float | None]] = {
    "GET /api/cases": ("shadow", None),
    "GET /api/alerts": ("legacy", None),
}


def clock() -> datetime:
    return datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_shift_is_saved_logged_and_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "gw" / "state.json"
    table = RouteTable(path, defaults=DEFAULTS, clock=clock)
    change = table.shift("GET /api/cases", "canary", 10, "first step", "ana")
    assert change.before == ("shadow", 0.0)
    assert change.after == ("canary", 10.0)
    table.shift("GET /api/cases", "canary", 50, "agrees", "schedule", kind="schedule")
    again = RouteTable(path, defaults=DEFAULTS, clock=clock)
    assert (again.get("GET /api/cases").mode, again.get("GET /api/cases").percent) == ("canary", 50)
    assert again.get("GET /api/cases").who == "schedule"
    log = [json.loads(line) for line in log_path(path).read_text().splitlines()]
    assert [(e["who"], e["why"], e["after"]) for e in log] == [
        ("ana", "first step", ["canary", 10.0]),
        ("schedule", "agrees", ["canary", 50.0]),
    ]
    assert log[0]["at"].startswith("2026-12-05T12:00")
    assert [c.kind for c in again.changes()] == ["shift", "schedule"]
    assert not list(path.parent.glob(".state.json.*"))  # no temporary file left


def test_refusals_change_nothing(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    table = RouteTable(path, defaults=DEFAULTS, databases="separate")
    with pytest.raises(PolicyError, match="shared database"):
        table.shift("GET /api/cases", "canary", 10, "try", "ana")
    with pytest.raises(PolicyError, match="not a configured gateway route"):
        table.shift("GET /nope", "shadow", None, "try", "ana")
    with pytest.raises(PolicyError, match="needs a reason"):
        table.shift("GET /api/cases", "shadow", None, " ", "ana")
    assert not path.exists()
    assert table.get("GET /api/cases").mode == "shadow"


def test_a_saved_canary_is_refused_when_the_databases_became_separate(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    RouteTable(path, defaults=DEFAULTS).shift("GET /api/cases", "port", None, "go", "ana")
    with pytest.raises(HarnessError, match="saved as port"):
        RouteTable(path, defaults=DEFAULTS, databases="separate")


def test_a_broken_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(HarnessError, match="state file cannot be read"):
        RouteTable(path, defaults=DEFAULTS)


def test_schedule_progress_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    table = RouteTable(path, defaults=DEFAULTS)
    table.set_schedule("GET /api/cases", {"index": 1, "status": "running"})
    assert RouteTable(path, defaults=DEFAULTS).get("GET /api/cases").schedule == {
        "index": 1,
        "status": "running",
    }
    assert table.changes() == []
