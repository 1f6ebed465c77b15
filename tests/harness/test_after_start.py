"""``[[snapshot.after_start]]`` (issue 28): in managed mode, rows created through the API
(and by a command) on the legacy after it starts become the snapshot both sides start from.
The fixture pair's own services, its seed, its login; no mock."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cases.generation import build_request
from harness.errors import HarnessError
from harness.pair.targets import SIDES, open_pair
from harness.setup.config import load_config
from tests.harness.conftest import make_config

pytestmark = pytest.mark.e2e

STEPS = """
[[snapshot.after_start]]
method = "POST"
path = "/items"
body = { name = "made-by-hook", price = 3.5, tags = ["hook"] }
role = "admin"

[[snapshot.after_start]]
command = ["{python}", "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\\"INSERT INTO items (name, price, tags, created_at, updated_at) VALUES ('by-command', 1, '[]', '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z')\\"); c.commit()", "{database}"]
"""


def _get(pair: object, key: str, path: str) -> tuple[int, object]:
    req = build_request(
        operation="GET /items/{item_id}",
        method="GET",
        path=path,
        query=(),
        headers=(("accept", "*/*"),),
        role="admin",
        mode="positive",
    )
    resp = pair.send_one(key, req)  # type: ignore[attr-defined]
    return resp.status, resp.body


def test_rows_made_after_start_are_in_the_snapshot_both_sides_start_from(
    pair_dir: Path, tmp_path: Path
) -> None:
    config = load_config(make_config(pair_dir, extra=STEPS))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with open_pair(config, config.profile("dev"), run_dir) as pair:
        assert pair.snapshot is not None
        with sqlite3.connect(pair.snapshot) as conn:
            made = dict(
                conn.execute(
                    "SELECT name, id FROM items WHERE name IN ('made-by-hook', 'by-command')"
                ).fetchall()
            )
            events = conn.execute(
                "SELECT count(*) FROM events WHERE subject_id = ?", (made.get("made-by-hook"),)
            ).fetchone()[0]
        assert set(made) == {"made-by-hook", "by-command"}, made
        assert events == 1  # the API's own side effects came with the row
        for name, ident in made.items():
            answers = {key: _get(pair, key, f"/items/{ident}") for key in SIDES}
            assert answers["legacy"] == answers["candidate"], answers
            status, body = answers["legacy"]
            assert status == 200
            assert isinstance(body, dict)
            assert body["name"] == name
        # the baseline each side is restored to holds them: nothing was written since
        for key in SIDES:
            assert not pair.watchers[key].changed(), key
    assert (run_dir / "after_start.log").is_file()


def test_a_failing_after_start_step_stops_the_run_naming_it(pair_dir: Path, tmp_path: Path) -> None:
    steps = '\n[[snapshot.after_start]]\nmethod = "POST"\npath = "/items"\nbody = { name = "" }\n'
    steps += 'role = "admin"\n'
    config = load_config(make_config(pair_dir, extra=steps))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    with (
        pytest.raises(HarnessError, match=r"after_start\]\] #1: POST /items as admin answered 400"),
        open_pair(config, config.profile("dev"), run_dir),
    ):
        pass
