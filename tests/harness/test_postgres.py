"""PostgreSQL targets on a real private server (never a mock): the watcher's write diff and
restore under a connection that stays open (as a service's pool does), the cross-engine
normalization, and the shipped port answering on PostgreSQL as it does on SQLite."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.compare.normalization import JsonText, RuleSet
from harness.db.sqlite import DbWatcher
from harness.db.watcher import (
    Watcher,
    engine_of,
    normalize_cross_engine,
    normalize_pair,
    open_watcher,
)
from harness.errors import HarnessError
from harness.models import TableWrites
from harness.pair.pgserver import PgServer, pg_available, pg_server

# a private PostgreSQL server
pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    with pg_server() as server:
        yield server


_counter = iter(range(1_000_000))


def fresh_db(pg: PgServer, schema: str) -> tuple[str, Any]:
    """A new database with ``schema`` applied; (its URL, an autocommit writer connection)."""
    import psycopg

    name = f"t{next(_counter)}"
    pg.execute(f"CREATE DATABASE {name}")
    writer = psycopg.connect(pg.dsn(name), autocommit=True)
    writer.execute(schema.encode())
    return pg.url(name), writer


SCHEMA = """
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL, active boolean,
                    meta jsonb, created_at timestamptz DEFAULT now());
CREATE TABLE tags (item int, tag text, note text, PRIMARY KEY (item, tag));
CREATE TABLE posts (id serial PRIMARY KEY, user_id int REFERENCES users(id) ON DELETE CASCADE,
                    body text);
INSERT INTO users (name, active, meta) VALUES ('a', true, '{"x": 1}'), ('b', false, NULL),
                                              ('c', NULL, '[1, 2]');
INSERT INTO tags VALUES (1, 'x', 'one'), (1, 'y', 'two');
INSERT INTO posts (user_id, body) VALUES (1, 'p1'), (2, 'p2');
"""


def test_engine_of_and_factory(tmp_path: Path) -> None:
    assert engine_of(tmp_path / "x.db") == "sqlite"
    assert engine_of("sqlite:///x.db") == "sqlite"
    assert engine_of("postgresql+psycopg://u@h/db") == "postgresql"
    assert engine_of("postgres://u@h/db") == "postgresql"
    with pytest.raises(HarnessError, match="unsupported"):
        engine_of("mysql://u@h/db")
    watcher = open_watcher(tmp_path / "x.db", tmp_path / "x.base")
    assert isinstance(watcher, DbWatcher)  # SQLite: today's watcher, unchanged
    assert isinstance(watcher, Watcher)
    assert watcher.engine == "sqlite"
    assert open_watcher("postgresql://u@h/db").engine == "postgresql"


@pytest.mark.slow
@pytest.mark.timing
def test_server_stops_and_leaves_nothing() -> None:
    if not pg_available():
        pytest.skip("PostgreSQL binaries not installed")
    import psutil

    with pg_server() as server:
        assert server.process is not None
        pid = server.process.pid
        root = server.root
        server.execute("SELECT 1")
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not root.exists()


@pytest.mark.slow
def test_watcher_sees_writes_and_restores_under_an_open_connection(pg: PgServer) -> None:
    url, writer = fresh_db(pg, SCHEMA)
    watcher = open_watcher(url)
    watcher.open()
    try:
        assert not watcher.changed()
        assert watcher.writes() == {}
        writer.execute("INSERT INTO users (name, active) VALUES ('d', true)")
        writer.execute("UPDATE users SET name = 'B', meta = '{\"y\": 2}' WHERE id = 2")
        writer.execute("DELETE FROM users WHERE id = 1")  # cascades to posts row 1
        writer.execute("UPDATE tags SET note = 'TWO' WHERE item = 1 AND tag = 'y'")
        assert watcher.changed()
        writes = watcher.writes()
        assert set(writes) == {"users", "posts", "tags"}
        users = writes["users"]
        assert [(r["rowid"], r["name"], r["active"]) for r in users.inserted] == [(4, "d", True)]
        assert [(r["rowid"], r["changed"]) for r in users.updated] == [(2, ["meta", "name"])]
        assert users.updated[0]["after"]["meta"] == {"y": 2}
        assert [r["rowid"] for r in users.deleted] == [1]
        assert [r["rowid"] for r in writes["posts"].deleted] == [1]
        assert [(r["rowid"], r["after"]["note"]) for r in writes["tags"].updated] == [
            ((1, "y"), "TWO")
        ]
        watcher.restore()
        assert not watcher.changed()
        assert watcher.writes() == {}
        # the writer's open session sees the baseline again, sequences included
        names = [r[0] for r in writer.execute("SELECT name FROM users ORDER BY id")]
        assert names == ["a", "b", "c"]
        assert writer.execute("SELECT count(*) FROM posts").fetchone()[0] == 2
        new_id = writer.execute("INSERT INTO users (name) VALUES ('e') RETURNING id").fetchone()
        assert new_id[0] == 4, "the id sequence is back where the baseline left it"
        watcher.restore()
        # a rolled-back insert writes no row but consumes an id: changed, nothing written
        writer.execute("BEGIN")
        writer.execute("INSERT INTO users (name) VALUES ('rolled back')")
        writer.execute("ROLLBACK")
        assert watcher.changed()
        assert watcher.writes() == {}
        watcher.restore()
        assert not watcher.changed()
        assert watcher.restores == 3
    finally:
        watcher.close()
        writer.close()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tables", "clone"])
def test_other_restore_strategies_reach_the_same_baseline(pg: PgServer, strategy: str) -> None:
    url, writer = fresh_db(pg, SCHEMA)
    template = None
    if strategy == "clone":
        writer.close()
        template = url.rsplit("/", 1)[1] + "_tpl"
        pg.execute(f"CREATE DATABASE {template} TEMPLATE {url.rsplit('/', 1)[1]}")
    watcher = open_watcher(url, strategy=strategy, template=template)
    watcher.open()
    if strategy == "clone":
        # the template was taken before open(): re-open so the clone carries the triggers
        watcher.close()
        import psycopg

        pg.execute(f"DROP DATABASE {template}")
        pg.execute(f"CREATE DATABASE {template} TEMPLATE {url.rsplit('/', 1)[1]}")
        watcher = open_watcher(url, strategy=strategy, template=template)
        watcher.open()
        writer = psycopg.connect(pg.dsn(url.rsplit("/", 1)[1]), autocommit=True)
    try:
        writer.execute("INSERT INTO tags VALUES (2, 'z', 'new')")
        writer.execute("TRUNCATE posts")
        writes = watcher.writes()
        assert [r["rowid"] for r in writes["tags"].inserted] == [(2, "z")]
        assert [r["rowid"] for r in writes["posts"].deleted] == [1, 2]
        if strategy == "clone":
            writer.close()  # re-cloning needs the database to itself
        watcher.restore()
        assert not watcher.changed()
        assert watcher.writes() == {}
    finally:
        watcher.close()
        if not writer.closed:
            writer.close()


# -- across engines ----------------------------------------------------------------------------


@pytest.mark.slow
def test_invariant_context_on_postgresql(pg: PgServer) -> None:
    from harness.db.invariants import Invariant, InvariantContext, run_invariants

    url, writer = fresh_db(pg, SCHEMA)
    writer.close()

    def likes(ctx: InvariantContext) -> None:
        assert ctx.engine == "postgresql"
        assert ctx.scalar("SELECT count(*) FROM users WHERE name LIKE ?", "%a%") == 1
        assert ctx.scalar("SELECT count(*) FROM users WHERE name LIKE 'b%'") == 1

    def broken(ctx: InvariantContext) -> None:
        ctx.scalar("SELECT nope FROM users")

    def writes(ctx: InvariantContext) -> None:
        ctx.scalar("DELETE FROM users RETURNING id")

    checks = [Invariant("likes", likes, ""), Invariant("broken", broken, "")]
    checks.append(Invariant("read_only", writes, ""))
    results = {r.name: r for r in run_invariants(checks, url)}
    assert results["likes"].passed, results["likes"].message
    assert not results["broken"].passed
    assert "SQL error" in results["broken"].message
    assert not results["read_only"].passed, "invariants cannot write"


def test_normalize_cross_engine_values() -> None:
    at = datetime(2025, 1, 2, 3, 4, 5, 678_901, tzinfo=UTC)
    pg_side = {
        "t": TableWrites(
            inserted=[
                {
                    "rowid": 1,
                    "id": 1,
                    "flag": True,
                    "at": at,
                    "meta": {"b": 1, "a": [1, 2]},
                    "n": Decimal("3"),
                    "r": Decimal("2.5"),
                }
            ]
        )
    }
    raw = '{"b":1,"a":[1,2]}'
    sqlite_side = {
        "t": TableWrites(
            inserted=[
                {
                    "rowid": 1,
                    "id": 1,
                    "flag": 1,
                    "at": "2025-01-02T03:04:05.678Z",
                    "meta": JsonText(raw, {"b": 1, "a": [1, 2]}, "compact"),
                    "n": 3,
                    "r": 2.5,
                }
            ]
        ),
        "sqlite_sequence": TableWrites(updated=[{"rowid": "t", "before": {}, "after": {}}]),
    }
    a, b = normalize_pair(sqlite_side, pg_side, "sqlite", "postgresql")
    assert a is not None
    assert b is not None
    assert "sqlite_sequence" not in a
    assert a["t"].inserted == b["t"].inserted
    # same engine: left exactly as is
    same = normalize_pair(sqlite_side, sqlite_side, "sqlite", "sqlite")
    assert same == (sqlite_side, sqlite_side)
    # a wrong value still differs after normalization
    wrong = normalize_cross_engine({"t": TableWrites(inserted=[{"rowid": 1, "flag": False}])})
    assert wrong["t"].inserted[0]["flag"] == 0


@pytest.mark.slow
def test_same_write_on_sqlite_and_postgresql_compares_equal(pg: PgServer, tmp_path: Path) -> None:
    from harness.compare.comparison import compare_writes

    url, writer = fresh_db(
        pg,
        "CREATE TABLE items (id serial PRIMARY KEY, name text, done boolean, "
        "meta jsonb, at timestamptz, qty numeric);"
        "INSERT INTO items (name, done, meta, at, qty) VALUES "
        "('a', false, '{\"k\": 1}', '2025-01-01T00:00:00Z', 1)",
    )
    live = tmp_path / "live.db"
    conn = sqlite3.connect(live)
    conn.executescript(
        "CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, done INTEGER, "
        "meta TEXT, at TEXT, qty INTEGER);"
        "INSERT INTO items (name, done, meta, at, qty) VALUES "
        "('a', 0, '{\"k\":1}', '2025-01-01T00:00:00.000Z', 1);"
    )
    conn.commit()
    sq = open_watcher(live, tmp_path / "base.db")
    pw = open_watcher(url)
    sq.open()
    pw.open()
    try:
        conn.execute(
            "INSERT INTO items (name, done, meta, at, qty) VALUES "
            "('b', 1, '{\"k\":2}', '2025-06-01T12:30:00.250Z', 5)"
        )
        conn.execute("UPDATE items SET done = 1 WHERE id = 1")
        conn.commit()
        writer.execute(
            "INSERT INTO items (name, done, meta, at, qty) VALUES "
            "('b', true, '{\"k\": 2}', '2025-06-01T12:30:00.25Z', 5)"
        )
        writer.execute("UPDATE items SET done = true WHERE id = 1")
        rules = RuleSet([], "POST /items")
        raw_diffs = compare_writes(sq.writes(), pw.writes(), rules)
        assert raw_diffs, "without normalization the engines' types differ"
        a, b = normalize_pair(sq.writes(), pw.writes(), "sqlite", "postgresql")
        assert a is not None
        assert b is not None
        assert compare_writes(a, b, rules) == []
        # a real drift (a wrong column value) survives normalization as a db: finding
        writer.execute("UPDATE items SET qty = 6 WHERE name = 'b'")
        a, b = normalize_pair(sq.writes(), pw.writes(), "sqlite", "postgresql")
        assert a is not None
        assert b is not None
        diffs = compare_writes(a, b, rules)
        assert [d.location for d in diffs] == ["db:items.qty"]
    finally:
        sq.close()
        pw.close()
        conn.close()
        writer.close()


# -- the shipped port on PostgreSQL ------------------------------------------------------------


@pytest.fixture(scope="module")
def seeded_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("npx") is None or not (ROOT / "legacy" / "node_modules").is_dir():
        pytest.skip("the legacy seed needs `npm ci` in legacy/")
    from tests.servers import seed

    path = tmp_path_factory.mktemp("pgseed") / "snapshot.db"
    seed(path, "--cases", "80", "--alerts", "60", "--feed", "30")
    return path


def _login(url: str, role: str) -> dict[str, str]:
    from tests.servers import USERS

    email, password = USERS[role]
    res = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password})
    assert res.status_code == 200, res.text
    return {"Authorization": f"Bearer {res.json()['token']}"}


@pytest.mark.e2e
@pytest.mark.slow
def test_port_answers_on_postgresql_as_on_sqlite(
    pg: PgServer, seeded_snapshot: Path, tmp_path: Path
) -> None:
    from backend.pgload import load
    from harness.db.postgres import create_database, prepare_targets
    from tests.servers import running

    cli = pg.url("port_cli")
    create_database(cli)
    out = subprocess.run(
        [sys.executable, "-m", "backend.pgload", str(seeded_snapshot), cli],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "cases 80" in out.stdout
    live = prepare_targets(pg.url("port"), seeded_snapshot, ["candidate"], load)["candidate"]
    assert live.endswith("/port_candidate")
    sqlite_db = tmp_path / "port.db"
    shutil.copyfile(seeded_snapshot, sqlite_db)
    with (
        running("port", sqlite_db, tmp_path) as on_sqlite,
        running("port", sqlite_db, tmp_path, env={"DATABASE_URL": live}) as on_pg,
    ):
        hs, hp = _login(on_sqlite.url, "agent"), _login(on_pg.url, "agent")
        for path in (
            "/api/cases?limit=5",
            "/api/cases/3",
            "/api/alerts/count",
            "/api/feed",
            "/api/pulse?days=30",
            "/api/predictions?weeks=4",
        ):
            a = httpx.get(on_sqlite.url + path, headers=hs)
            b = httpx.get(on_pg.url + path, headers=hp)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), path
        # search: the legacy's FTS5 queries over an in-memory FTS5 index of PostgreSQL's rows:
        # the same rows, bm25 scores, order and snippets (diacritics folded: "cafe" finds "café")
        for q in ("order", "cafe", "refund delayed", "a1"):
            a = httpx.get(on_sqlite.url + "/api/search", params={"q": q, "limit": 50}, headers=hs)
            b = httpx.get(on_pg.url + "/api/search", params={"q": q, "limit": 50}, headers=hp)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), q
        assert httpx.get(on_pg.url + "/api/search?q=order", headers=hp).json()["total"] > 0
        # SQLite's 64-bit integers: an id beyond PostgreSQL's integer is a missing row
        for path in (
            "/api/cases/130039595012",
            "/api/alerts/4765550934",
            "/api/uploads/2147483648",
        ):
            a = httpx.get(on_sqlite.url + path, headers=hs)
            b = httpx.get(on_pg.url + path, headers=hp)
            assert (a.status_code, a.json()) == (b.status_code, b.json()) == (404, a.json()), path
        # NUL: no PostgreSQL text holds one, so a filter or a login with one matches nothing
        for path, params in (
            ("/api/cases", {"businessUnit": "re\x00tail"}),
            ("/api/cases", {"category": "a\x00"}),
            ("/api/alerts", {"businessUnit": "re\x00tail"}),
            ("/api/feed", {"businessUnit": "\x00"}),
            ("/api/pulse", {"businessUnit": "re\x00tail"}),
            ("/api/predictions", {"businessUnit": "\x00"}),
        ):
            a = httpx.get(on_sqlite.url + path, params=params, headers=hs)
            b = httpx.get(on_pg.url + path, params=params, headers=hp)
            assert (a.status_code, a.json()) == (b.status_code, b.json()), (path, params)
        bad_login = {"email": "agent\x00@example.test", "password": "x"}
        a = httpx.post(on_sqlite.url + "/api/auth/login", json=bad_login)
        b = httpx.post(on_pg.url + "/api/auth/login", json=bad_login)
        assert (a.status_code, a.json()) == (b.status_code, b.json()) == (401, a.json())
        # ... and cannot store one: a 400 in the legacy's shape (the one accepted difference)
        nul_case = {"title": "t\x00", "channel": "email", "category": "c", "customerName": "R"}
        b = httpx.post(on_pg.url + "/api/cases", headers=hp, json=nul_case)
        assert b.status_code == 400, b.text
        assert b.json()["issues"] == [
            {
                "path": "title",
                "code": "custom",
                "message": "Text cannot contain a NUL character (U+0000)",
            }
        ]
        watcher = open_watcher(live)
        watcher.open()
        try:
            made = httpx.post(
                on_pg.url + "/api/cases",
                headers=hp,
                json={"title": "On PG", "channel": "email", "category": "c", "customerName": "R"},
            )
            assert made.status_code == 201, made.text
            assert made.json()["id"] == 81, "ids continue from the SQLite snapshot's counter"
            assert watcher.changed()
            writes = watcher.writes()
            assert [r["title"] for r in writes["cases"].inserted] == ["On PG"]
            assert [r["kind"] for r in writes["events"].inserted] == ["case.created"]
            watcher.restore()
            again = httpx.post(
                on_pg.url + "/api/cases",
                headers=hp,
                json={"title": "Again", "channel": "email", "category": "c", "customerName": "R"},
            )
            assert again.json()["id"] == 81, "restored under the running port, pool and all"
            watcher.restore()
            # the contract's invariants run on PostgreSQL too (a SQLAlchemy connection)
            from harness.db.invariants import load_invariants, run_invariants

            defs = load_invariants(ROOT / "contracts" / "invariants.py")
            results = run_invariants(defs, watcher.live)
            assert [r.message for r in results if not r.passed] == []
            assert {r.name for r in results if not r.skipped} >= {
                "no_session_outlives_its_user",
                "updated_at_not_before_created_at",
            }
        finally:
            watcher.close()


def test_default_loader_translates_the_snapshot_schema(pg: PgServer, tmp_path: Path) -> None:
    """``harness.db.load``: no loader of the service's own; the SQLite file's schema, translated."""
    import psycopg

    from harness.db.load import load
    from harness.db.postgres import create_database

    snap = tmp_path / "snap.db"
    conn = sqlite3.connect(snap)
    conn.executescript(
        """
        CREATE TABLE items (id INTEGER PRIMARY KEY AUTOINCREMENT, price REAL NOT NULL,
          big INTEGER, at TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
          kind TEXT DEFAULT 'plain');
        CREATE TABLE migrations (id SERIAL PRIMARY KEY, hash TEXT);
        CREATE VIRTUAL TABLE items_fts USING fts5(body);
        INSERT INTO items (price, big, at) VALUES (12.34, 9007199254740993, 'x'), (0.1, NULL, 'y');
        INSERT INTO migrations (hash) VALUES ('a'), ('b');
        INSERT INTO items_fts (body) VALUES ('hello');
        """
    )
    conn.commit()
    conn.close()
    url = pg.url("loaded")
    create_database(url)
    assert load(snap, url) == {"items": 2, "migrations": 2}  # no FTS5 table or shadow
    with psycopg.connect(pg.dsn("loaded")) as pgc:
        rows = pgc.execute("SELECT price, big FROM items ORDER BY id").fetchall()
        assert rows == [(12.34, 9007199254740993), (0.1, None)]  # double, 64-bit
        assert pgc.execute("SELECT count(*) FROM migrations WHERE id IS NULL").fetchone() == (2,)
        # the sequence continues after SQLite's counter; the literal default stays, the
        # SQLite function default goes
        pgc.execute("INSERT INTO items (price) VALUES (1)")
        added = pgc.execute("SELECT id, kind, at FROM items WHERE price = 1").fetchone()
        assert added == (3, "plain", None)


def _pg_state(writer: Any, tables: dict[str, list[str]]) -> dict[str, dict[Any, dict[str, Any]]]:
    from harness.db.postgres import _cell

    out: dict[str, dict[Any, dict[str, Any]]] = {}
    for name, pk in tables.items():
        cur = writer.execute(f"SELECT * FROM {name}".encode())
        cols = [d.name for d in cur.description or ()]
        rows: dict[Any, dict[str, Any]] = {}
        for values in cur.fetchall():
            row = {c: _cell(v) for c, v in zip(cols, values, strict=True)}
            key = tuple(row[c] for c in pk)
            rows[key[0] if len(key) == 1 else key] = row
        out[name] = rows
    return out


def test_a_rebased_watcher_reports_each_steps_own_writes(pg: PgServer) -> None:
    """Rebased after every step (a replay, never restored), the PostgreSQL watcher reports
    what that step wrote, the same as diffing the state just before it with the state after
    it (a row written again, deleted, inserted and deleted, a whole table truncated); a
    restore goes back to what open() froze, sequences included."""
    from harness.db.postgres import _diff_rows

    url, writer = fresh_db(pg, SCHEMA)
    tables = {"users": ["id"], "tags": ["item", "tag"], "posts": ["id"]}
    watcher = open_watcher(url)
    watcher.open()
    origin = _pg_state(writer, tables)
    steps = [
        "UPDATE users SET name = 'B' WHERE id = 2",
        "UPDATE users SET name = 'BB', active = true WHERE id = 2",  # the same row again
        "INSERT INTO users (name) VALUES ('d')",
        "UPDATE users SET name = 'D' WHERE name = 'd'",
        "DELETE FROM users WHERE name = 'D'",  # a row that open() never saw, gone again
        "INSERT INTO tags VALUES (2, 'z', 'new'); UPDATE tags SET note = 'TWO' WHERE tag = 'y'",
        "DELETE FROM tags WHERE item = 2",
        "TRUNCATE posts",
        "INSERT INTO posts (user_id, body) VALUES (3, 'p3')",
        "UPDATE posts SET body = 'p3!' WHERE user_id = 3",
        "UPDATE users SET name = 'B' WHERE id = 2",
        "SELECT 1",
    ]
    try:
        for sql in steps:
            before = _pg_state(writer, tables)
            writer.execute(sql.encode())
            after = _pg_state(writer, tables)
            expected = {
                name: tw for name in tables if (tw := _diff_rows(before[name], after[name]))
            }
            got = watcher.writes() if watcher.changed() else {}
            assert got == expected, sql
            watcher.rebase()
            assert not watcher.changed(), sql
        watcher.restore()
        assert _pg_state(writer, tables) == origin
        assert not watcher.changed()
        assert watcher.writes() == {}
        new_id = writer.execute("INSERT INTO users (name) VALUES ('e') RETURNING id").fetchone()
        assert new_id[0] == 4, "the id sequence is back where open() left it"
        writes = watcher.writes()
        assert [r["rowid"] for r in writes["users"].inserted] == [4]
    finally:
        watcher.close()
        writer.close()
