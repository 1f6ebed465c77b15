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


def test_instances_sharing_the_state_file_see_each_other_s_shifts(tmp_path: Path) -> None:
    """Two gateways on one state file: a shift through one is served by the other once it
    has read the file again (``refresh_s`` 0 here: at once)."""
    path = tmp_path / "state.json"
    one = RouteTable(path, defaults=DEFAULTS, refresh_s=0)
    two = RouteTable(path, defaults=DEFAULTS, refresh_s=0)
    one.shift("GET /api/cases", "canary", 10, "first step", "ana")
    assert (two.get("GET /api/cases").mode, two.get("GET /api/cases").percent) == ("canary", 10)
    two.shift("GET /api/alerts", "shadow", None, "look", "bo")
    assert one.get("GET /api/alerts").mode == "shadow"
    assert one.routes()["GET /api/cases"].percent == 10  # its own change kept too
    # a gateway that reads the file at most once a minute still serves its own table
    slow = RouteTable(path, defaults=DEFAULTS, refresh_s=60)
    one.shift("GET /api/cases", "canary", 50, "second step", "ana")
    assert slow.get("GET /api/cases").percent == 10


def test_instances_shifting_at_once_lose_no_change(tmp_path: Path) -> None:
    """Each change is read, modify, write under the lock: two instances shifting different
    routes 30 times each, at once, end with both routes' last changes and 60 log lines."""
    import threading

    path = tmp_path / "state.json"
    tables = [RouteTable(path, defaults=DEFAULTS, refresh_s=60) for _ in range(2)]
    routes = ["GET /api/cases", "GET /api/alerts"]
    start = threading.Barrier(2)

    def shift_many(index: int) -> None:
        start.wait()
        for step in range(1, 31):
            tables[index].shift(routes[index], "canary", step, f"step {step}", f"gw{index}")

    threads = [threading.Thread(target=shift_many, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    saved = json.loads(path.read_text())["routes"]
    assert saved["GET /api/cases"]["percent"] == 30
    assert saved["GET /api/alerts"]["percent"] == 30
    assert len(log_path(path).read_text().splitlines()) == 60
