from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.db.sqlite import DbWatcher
from harness.errors import HarnessError
from harness.setup.config import load_config
from harness.setup.contract import load_contract

ROOT = Path(__file__).resolve().parents[2]


def make_db(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, meta TEXT);"
        "CREATE VIRTUAL TABLE items_fts USING fts5(name);"
        "INSERT INTO items (name, meta) VALUES ('a', '{\"x\":1}'), ('b', NULL), ('c', NULL);"
    )
    conn.commit()
    conn.close()


def test_watcher_sees_inserts_updates_deletes_and_restores(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    make_db(live)
    watcher = DbWatcher(live, tmp_path / "base.db")
    watcher.open()
    try:
        assert not watcher.changed()
        writer = sqlite3.connect(live)  # another connection, as a service would be
        writer.execute("INSERT INTO items (name) VALUES ('d')")
        writer.execute("UPDATE items SET name = 'B' WHERE id = 2")
        writer.execute("DELETE FROM items WHERE id = 3")
        writer.commit()
        assert watcher.changed()
        writes = watcher.writes()
        assert set(writes) == {"items", "sqlite_sequence"}  # FTS shadow tables are skipped
        items = writes["items"]
        assert [r["name"] for r in items.inserted] == ["d"]
        assert [(r["rowid"], r["changed"]) for r in items.updated] == [(2, ["name"])]
        assert [r["rowid"] for r in items.deleted] == [3]
        watcher.restore()
        assert not watcher.changed()
        # the writer's connection sees the restored content (online backup, no restart)
        names = [r[0] for r in writer.execute("SELECT name FROM items ORDER BY id")]
        assert names == ["a", "b", "c"]
        assert watcher.writes() == {}
        writer.close()
    finally:
        watcher.close()


def test_config_errors_name_file_and_place(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[compare]\nheaders = 'content-type'\n")
    with pytest.raises(HarnessError, match=r"p\.toml: invalid config: compare\.headers"):
        load_config(bad)
    bad.write_text("[[normalize]]\nlocation = 'body:$.a'\naction = 'maskk'\n")
    with pytest.raises(HarnessError, match=r"normalize\[0\]\.action"):
        load_config(bad)
    bad.write_text("[profiles.ci]\npositive = 1\nbogus = 2\n")
    with pytest.raises(HarnessError, match=r"profiles\.ci\.bogus"):
        load_config(bad)
    bad.write_text("[compare\n")
    with pytest.raises(HarnessError, match="invalid TOML"):
        load_config(bad)
    bad.write_text(
        "[[accept]]\noperation='*'\nlocation='*'\nkind='value'\nreason='r'\nexpires='soon'\n"
    )
    with pytest.raises(HarnessError, match=r"accept\[0\]\.expires"):
        load_config(bad)
    bad.write_text(
        "[invariants]\napi_role = 'root'\n[auth]\nlogin = 'POST /login'\n"
        "[auth.roles.admin]\nbody = {}\n"
    )
    with pytest.raises(HarnessError, match=r"invariants\.api_role: 'root' .*known: admin"):
        load_config(bad)


def test_shipped_config_and_contract_load() -> None:
    config = load_config(ROOT / "contracts" / "parity.toml")
    assert set(config.services) == {"legacy", "candidate"}
    assert {"ci", "dev"} <= set(config.profiles)
    contract = load_contract(config.resolve(config.contract or "openapi.yaml"))
    assert any(op.id == "GET /api/cases" for op in contract.operations)


def test_broken_contract_names_the_place(tmp_path: Path) -> None:
    bad = tmp_path / "api.yaml"
    bad.write_text("openapi: 3.0.3\npaths:\n  /x: [unclosed\n")
    with pytest.raises(HarnessError, match=r"api\.yaml: invalid YAML at line \d+, column \d+"):
        load_contract(bad)
    bad.write_text("swagger: '2.0'\npaths: {}\n")
    with pytest.raises(HarnessError, match="openapi"):
        load_contract(bad)


def test_operation_selection() -> None:
    contract = load_contract(ROOT / "tests" / "fixtures" / "pair" / "openapi.yaml")
    assert [op.id for op in contract.select(["get /items"])] == ["GET /items"]
    assert len(contract.select(["/items*"])) == 7
    with pytest.raises(HarnessError, match="matches no operation"):
        contract.select(["GET /nope"])


def test_same_seed_same_cases_in_same_order() -> None:
    from harness.cases.generation import generate_cases

    contract = load_contract(ROOT / "tests" / "fixtures" / "pair" / "openapi.yaml")
    op = contract.get("POST /items")
    kw = {
        "positive": 10,
        "negative": 5,
        "roles": ["admin", None],
        "strip_headers": ["authorization"],
        "strip_cookies": True,
    }
    first = generate_cases(op, run_seed=3, **kw)  # type: ignore[arg-type]
    again = generate_cases(op, run_seed=3, **kw)  # type: ignore[arg-type]
    other = generate_cases(op, run_seed=4, **kw)  # type: ignore[arg-type]
    assert [r.signature() for r in first] == [r.signature() for r in again]
    assert [r.signature() for r in first] != [r.signature() for r in other]
    assert {r.mode for r in first} == {"positive", "negative"}
    assert all(("authorization" not in {k.lower() for k, _ in r.headers}) for r in first)


@pytest.fixture
def two_tables(tmp_path: Path) -> Path:
    path = tmp_path / "live.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE INDEX items_name ON items(name);"
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);"
    )
    conn.executemany("INSERT INTO items (name) VALUES (?)", [(f"item {i}",) for i in range(400)])
    conn.executemany("INSERT INTO notes (body) VALUES (?)", [("n" * 500,)] * 50)
    conn.commit()
    conn.close()
    return path


def test_watcher_reads_only_the_tables_the_log_names(two_tables: Path, tmp_path: Path) -> None:
    """After a restore, the WAL frames since name every table that changed (and the diff is
    the same as reading everything); once the log restarted, every table is read again."""
    writer = sqlite3.connect(two_tables)  # a service: its connection keeps the log open
    writer.execute("UPDATE items SET name = 'first' WHERE id = 1")
    writer.commit()
    watcher = DbWatcher(two_tables, tmp_path / "base.db")
    watcher.open()
    try:
        assert watcher.touched() == set()
        writer.execute("UPDATE notes SET body = 'short' WHERE id = 7")  # a page of notes only
        writer.commit()
        assert watcher.touched() == {"notes"}
        writes = watcher.writes()
        assert set(writes) == {"notes"}
        assert writes["notes"].updated[0]["rowid"] == 7
        assert (watcher.narrowed, watcher.full_reads) == (1, 0)
        watcher.restore()
        assert watcher.touched() == set()
        # an index-only page change still names its table; many rows split pages
        writer.executemany("INSERT INTO items (name) VALUES (?)", [("zz",)] * 300)
        writer.commit()
        assert watcher.touched() == {"items"}
        assert len(watcher.writes()["items"].inserted) == 300
        watcher.restore()
        assert watcher.writes() == {}
        # the log checkpointed and restarted under the watcher: frames are gone, read all
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.execute("DELETE FROM notes WHERE id = 1")
        writer.commit()
        assert watcher.touched() is None
        assert [r["rowid"] for r in watcher.writes()["notes"].deleted] == [1]
        assert watcher.full_reads == 1
        watcher.restore()
        assert watcher.touched() == set()
        assert watcher.writes() == {}
    finally:
        writer.close()
        watcher.close()


def _state(path: Path) -> dict[str, tuple[list[str], dict[object, tuple[object, ...]]]]:
    from harness.db.sqlite import _user_tables, read_raw

    conn = sqlite3.connect(path)
    try:
        return read_raw(conn, _user_tables(conn))
    finally:
        conn.close()


def test_a_rebased_watcher_reports_each_steps_own_writes(two_tables: Path, tmp_path: Path) -> None:
    """Rebased after every step (a replay, never restored), the watcher reports what that
    step wrote, the same as diffing the state just before it with the state after it: also
    when a step lands only on pages a table took after open() (its b-tree grew), where the
    baseline's page map knows nothing of them, and after the log restarted; a restore goes
    back to what open() froze."""
    from harness.db.sqlite import diff_tables

    writer = sqlite3.connect(two_tables)  # a service: its connection keeps the log open
    writer.execute("UPDATE items SET name = 'first' WHERE id = 1")
    writer.commit()
    watcher = DbWatcher(two_tables, tmp_path / "base.db")
    watcher.open()
    origin = _state(two_tables)
    steps = [
        "UPDATE notes SET body = 'short' WHERE id = 7",
        # notes grows by pages of its own, then its last leaf alone changes (no index): a
        # page open() never saw
        "INSERT INTO notes (body) SELECT hex(zeroblob(250)) FROM generate_series(1, 50)",
        "UPDATE notes SET body = 'tail' WHERE id = (SELECT max(id) FROM notes)",
        # many rows: items' b-trees take new pages (splits)
        "INSERT INTO items (name) SELECT 'zz' || value FROM generate_series(1, 400)",
        "UPDATE items SET name = 'again' WHERE id = 1",
        # the last row again: its leaf is a page items took in step 2, and nothing else
        "UPDATE items SET name = 'tail' WHERE id = (SELECT max(id) FROM items)",
        "INSERT INTO notes (body) VALUES ('new')",
        "DELETE FROM items WHERE id BETWEEN 100 AND 300",  # pages back to the freelist
        # pages items gave back, taken by notes: the old map names items for them
        "INSERT INTO notes (body) SELECT hex(zeroblob(250)) FROM generate_series(1, 200)",
        "UPDATE notes SET body = 'tail again' WHERE id = (SELECT max(id) FROM notes)",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "UPDATE notes SET body = 'after restart' WHERE id = 2",
        "UPDATE items SET name = 'tail 2' WHERE id = (SELECT max(id) FROM items)",
        "SELECT 1",  # a step that writes nothing
    ]
    try:
        for sql in steps:
            before = _state(two_tables)
            if sql.startswith("PRAGMA"):
                writer.execute(sql).fetchall()
                continue
            if "generate_series" in sql:  # no series extension: a recursive count instead
                head, _, rest = sql.partition(" SELECT ")
                expr, _, tail = rest.partition(" FROM generate_series(1, ")
                n = int(tail.rstrip(")"))
                sql = (
                    f"WITH RECURSIVE s(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM s "
                    f"WHERE value < {n}) {head} SELECT {expr} FROM s"
                )
            writer.execute(sql)
            writer.commit()
            expected = diff_tables(before, _state(two_tables))
            assert watcher.changed() == bool(expected), sql
            got = watcher.writes() if watcher.changed() else {}
            assert got == expected, sql
            watcher.rebase()
            assert not watcher.changed(), sql
        # the log's shortcut held across the moved baselines, but once it restarted
        assert (watcher.narrowed, watcher.full_reads) == (11, 1)
        watcher.restore()
        assert _state(two_tables) == origin
        assert not watcher.changed()
        assert watcher.writes() == {}
        writer.execute("UPDATE items SET name = 'x' WHERE id = 2")
        writer.commit()
        writes = watcher.writes()
        assert [(r["rowid"], r["before"]["name"]) for r in writes["items"].updated] == [
            (2, "item 1")
        ]
    finally:
        writer.close()
        watcher.close()
