"""Which tables an invariant reads, probed once on the baseline through SQLite's authorizer:
the engine reuses the baseline's result after a step that wrote none of them, and runs
anything it cannot see through (pragmas, unwatched tables, clocks, the step, the API)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.db.invariants import Invariant, InvariantContext, probe_invariants


def _inv(name: str, check: object, **flags: object) -> Invariant:
    return Invariant(name=name, check=check, description=name, **flags)  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "base.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total INTEGER);"
        "CREATE VIEW big AS SELECT * FROM orders WHERE total > 10;"
        "CREATE VIRTUAL TABLE notes USING fts5(body);"
        "INSERT INTO users VALUES (1, 'a'); INSERT INTO orders VALUES (1, 1, 5), (2, 9, 50);"
    )
    conn.commit()
    conn.close()
    return path


def test_probe_records_reads_and_the_baseline_result(db: Path) -> None:
    def orphans(ctx: InvariantContext) -> None:
        n = ctx.scalar("SELECT count(*) FROM orders WHERE user_id NOT IN (SELECT id FROM users)")
        assert n == 0, f"{n} orphan order(s)"

    def via_view(ctx: InvariantContext) -> None:
        assert ctx.scalar("SELECT count(*) FROM big") == 1

    def pragma(ctx: InvariantContext) -> None:
        assert not ctx.all("PRAGMA foreign_key_check")

    def fts(ctx: InvariantContext) -> None:
        ctx.all("SELECT * FROM notes")

    def clock(ctx: InvariantContext) -> None:
        ctx.scalar("SELECT count(*) FROM users WHERE name < datetime('now')")

    def copies(ctx: InvariantContext) -> None:
        memory = sqlite3.connect(":memory:")
        ctx.db.backup(memory)
        assert memory.execute("SELECT count(*) FROM users").fetchone()[0] == 1

    def uses_step(ctx: InvariantContext) -> None:
        if ctx.step is not None:
            assert ctx.step.status < 500

    def uses_api(ctx: InvariantContext) -> None:
        assert ctx.api is not None
        ctx.api("/count")

    invariants = [
        _inv("orphans", orphans),
        _inv("via_view", via_view),
        _inv("pragma", pragma),
        _inv("fts", fts),
        _inv("clock", clock),
        _inv("copies", copies),
        _inv("uses_step", uses_step),
        _inv("uses_api", uses_api),
        _inv("declared", orphans, tables=("orders",)),
        _inv("step_flag", uses_step, needs_step=True),
    ]
    probes = probe_invariants(invariants, db, ["users", "orders"])
    assert probes["orphans"].reads == {"orders", "users"}
    assert not probes["orphans"].result.passed  # order 2 belongs to no user, on the baseline
    assert probes["orphans"].result.message.startswith("1 orphan order(s)")
    assert probes["via_view"].reads == {"orders"}  # a view reads its tables
    assert probes["via_view"].result.passed
    for opaque in ("pragma", "fts", "clock", "copies", "uses_step", "uses_api"):
        assert probes[opaque].reads is None, opaque
    # declared tables, a step or the API: as before, never probed
    assert "declared" not in probes
    assert "step_flag" not in probes


def test_a_replay_step_rechecks_invariants_on_tables_earlier_steps_wrote(
    db: Path, tmp_path: Path
) -> None:
    """A replay reports each step's own writes: a step that wrote only ``users`` after an
    earlier one wrote ``orders`` must not keep the baseline's result of an invariant that
    reads ``orders`` (the state it reads is no longer the baseline's)."""
    import shutil
    from types import SimpleNamespace

    from harness.models import NOT_SET, PreparedRequest, TableWrites
    from harness.run.invariant_log import InvariantLog

    def small(ctx: InvariantContext) -> None:
        n = ctx.scalar("SELECT count(*) FROM orders WHERE total > 100")
        assert n == 0, f"{n} order(s) over 100"

    legacy, candidate = tmp_path / "legacy.db", tmp_path / "candidate.db"
    shutil.copy(db, legacy)
    shutil.copy(db, candidate)
    conn = sqlite3.connect(candidate)  # an earlier step, on the candidate only
    conn.execute("INSERT INTO orders VALUES (3, 1, 500)")
    conn.commit()
    conn.close()
    tables = [("users", True), ("orders", True)]
    pair = SimpleNamespace(
        watchers={
            key: SimpleNamespace(baseline=db, tables=tables, live=live, engine="sqlite")
            for key, live in (("legacy", legacy), ("candidate", candidate))
        },
        each=lambda keys, work: {k: work(k) for k in keys},
        timings=SimpleNamespace(invariants=0.0),
    )
    req = PreparedRequest(
        operation="PATCH /users/{id}",
        method="PATCH",
        path="/users/1",
        query=(),
        headers=(),
        content=None,
        body=NOT_SET,
        media_type=None,
        role=None,
        mode="positive",
    )
    step = {"users": TableWrites(updated=[{"rowid": 1}])}

    def check(earlier: tuple[set[str], set[str]]) -> list[str]:
        log = InvariantLog(pair, [_inv("small", small)], None)  # type: ignore[arg-type]
        try:
            found = log.check(req, (200, 200), (step, step), earlier=earlier)
        finally:
            log.close()
        return [d.location for d in found]

    assert check((set(), set())) == []  # this step's own writes alone: the baseline's result
    assert check((set(), {"orders"})) == ["invariant:small"]
