from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.config import load_config
from harness.contract import load_contract
from harness.dbdiff import DbWatcher
from harness.errors import HarnessError

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
    from harness.generation import generate_cases

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
