"""The value source: stored values, words, prefixes, instants and ids per field name,
values from a user's data masked, traffic values fed through the same entry point."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from harness.cases.datavalues import Paired, ValueSource, time_variants


def test_time_variants_keep_and_cut_precision() -> None:
    got = time_variants("2026-01-02T03:04:05.123Z")
    assert got[0] == "2026-01-02T03:04:05.123Z"
    assert "2026-01-02T03:04:05Z" in got
    assert "2026-01-02T03:04Z" in got
    assert "2026-01-02T05:04:05.123+02:00" in got
    assert "2026-01-02T03:04:05.122Z" in got
    assert "2026-01-02T03:04:05.124Z" in got
    seconds = time_variants("2026-01-02 03:04:05")
    assert "2026-01-02T03:04:04Z" in seconds
    assert "2026-01-02T03:04:06Z" in seconds
    assert time_variants("not a time") == []
    assert time_variants("2026") == []


def test_learned_from_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE cases (id INTEGER PRIMARY KEY, title TEXT, created_at TEXT)")
    for i in range(1, 11):
        con.execute(
            "INSERT INTO cases VALUES (?, ?, ?)",
            (i, f"Phishing report {i} from Kyiv", f"2026-01-{i:02d}T10:00:00.000Z"),
        )
    con.commit()
    con.close()
    src = ValueSource()
    src.learn_sqlite(db, private=True)
    titles = [v for v, _ in src.for_field("title")]
    assert "Phishing report 1 from Kyiv" in titles
    assert "Phishing report 10 from Kyiv" in titles
    assert "Kyiv" in titles
    assert "Phis" in titles
    ids = [v for v, _ in src.for_field("caseId")]
    assert 1 in ids
    assert 10 in ids
    times = [v for v, _ in src.for_field("createdAt")]
    assert "2026-01-10T10:00:00Z" in times
    assert "2026-01-01T09:59:59.999Z" in times
    value, origin = src.for_field("title")[0]
    assert src.shown(value, origin) == "<from the data>"


def test_traffic_feeds_the_same_source() -> None:
    src = ValueSource()
    src.add("q", ["alice", "alice", None, "bob"], "traffic")
    assert src.for_field("q") == [("alice", "traffic"), ("bob", "traffic")]
    assert src.shown("alice", "traffic") == "'alice'"


def test_slots_and_values_for_an_operation() -> None:
    from types import SimpleNamespace

    from harness.run.datacases import _values, data_slots
    from harness.setup.contract import Operation

    raw = {
        "parameters": [
            {"name": "q", "in": "query", "schema": {"type": "string"}},
            {"name": "since", "in": "query", "schema": {"type": "string", "format": "date-time"}},
            {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["a", "b"]}},
        ],
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {
                        "properties": {"caseId": {"type": "integer"}, "n": {"type": "integer"}}
                    }
                }
            }
        },
    }
    api = SimpleNamespace(definition=SimpleNamespace(raw=raw))
    op = Operation("POST /x", "POST", "/x", None, ("200",), api)
    slots = {(s.name, s.location): kind for s, kind in data_slots(op, {})}
    assert slots == {
        ("q", "query"): "text",
        ("since", "query"): "time",
        ("caseId", "body"): "integer",
        ("n", "body"): "integer",
    }
    src = ValueSource()
    src.add("cases.id", [3, 9], "db:cases.id")
    src.add("title", ["Kyiv"], "db:cases.title:words")
    src.add("created_at", ["2026-01-01T00:00:00Z"], "db:cases.created_at:time")
    src.add("n", [5], "db:x.n")
    # each value with its origin (a case notes where its values came from)
    assert _values(src, "caseId", "integer") == [(3, "db:cases.id"), (9, "db:cases.id")]
    assert _values(src, "n", "integer") == []  # a count, not an id: no row to select
    # a search term: words of stored texts
    assert _values(src, "q", "text") == [("Kyiv", "db:cases.title:words")]
    assert _values(src, "since", "time") == [("2026-01-01T00:00:00Z", "db:cases.created_at:time")]


def _stamped(path: Path, stamps: list[str]) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT, created_at TEXT)")
    for i, stamp in enumerate(stamps, 1):
        con.execute("INSERT INTO events VALUES (?, 'auth.login', ?)", (i, stamp))
    con.commit()
    con.close()


def test_each_side_gets_its_own_stamped_instant(tmp_path: Path) -> None:
    """Rows each side stamped with its own clock: the exact instants come first, per side,
    and only values that select the same rows on both sides are kept."""
    legacy, candidate = tmp_path / "l.db", tmp_path / "c.db"
    _stamped(legacy, ["2026-01-02T03:04:05.100Z", "2026-01-02T03:04:05.900Z"])
    # the candidate's clock: the same order, but both rows inside one second and a ms apart
    _stamped(candidate, ["2026-01-02T03:04:06.001Z", "2026-01-02T03:04:06.002Z"])
    src = ValueSource()
    src.learn_paired(legacy, candidate)
    pairs = src.paired["db:events.created_at:time"]
    # newest row first, at each side's exact instant
    assert pairs[0] == Paired("2026-01-02T03:04:05.900Z", "2026-01-02T03:04:06.002Z")
    assert Paired("2026-01-02T03:04:05.100Z", "2026-01-02T03:04:06.001Z") in pairs
    assert src.paired_for("createdAt") == pairs
    # the newest row's instant one ms earlier selects row 2 only on the legacy (row 1 sits at
    # .001 on the candidate): a value that splits the rows differently is never sent
    assert Paired("2026-01-02T03:04:05.899Z", "2026-01-02T03:04:06.001Z") not in pairs
    # cut to the second, both rows come after it on each side: the same split, kept
    assert Paired("2026-01-02T03:04:05Z", "2026-01-02T03:04:06Z") in pairs


def test_rows_the_same_on_both_sides_are_not_paired(tmp_path: Path) -> None:
    legacy, candidate = tmp_path / "l.db", tmp_path / "c.db"
    _stamped(legacy, ["2026-01-02T03:04:05.100Z"])
    _stamped(candidate, ["2026-01-02T03:04:05.100Z"])
    src = ValueSource()
    src.learn_paired(legacy, candidate)
    assert src.paired == {}


def _tenant_db(path: Path) -> Path:
    """users (the root two tables reference), tickets scoped by a copied unit column and an
    owner key, notes with a NULL unit for global rows."""
    db = path / "t.db"
    con = sqlite3.connect(db)
    con.executescript(
        """
        CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, team TEXT);
        CREATE TABLE tickets (id INTEGER PRIMARY KEY, title TEXT, team TEXT,
            owner_id INTEGER REFERENCES users(id));
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, team TEXT,
            author_id INTEGER REFERENCES users(id));
        INSERT INTO users VALUES (1, 'a@x.test', 'red'), (2, 'b@x.test', 'blue');
        INSERT INTO tickets VALUES
            (1, 'Printer jammed', 'red', 1), (2, 'Printer jammed', 'blue', 2),
            (3, 'Quasar outage', 'red', 1), (4, 'Nebula login', 'blue', 2),
            (5, 'Shared words', 'red', 1), (6, 'Shared words', 'blue', 2);
        INSERT INTO notes VALUES
            (1, 'Global zephyr notice', NULL, 1), (2, 'Team note', 'red', 1),
            (3, 'Team note', 'blue', 2);
        """
    )
    con.commit()
    con.close()
    return db


def test_values_only_in_one_scope_or_without_one(tmp_path: Path) -> None:
    db = _tenant_db(tmp_path)
    src = ValueSource()
    src.learn_scoped(db)
    # scoping columns come from the foreign keys: the owner key to users (referenced by two
    # tables), the team column copied from the users row; never the title
    assert src.scoping["tickets"] == ["team", "owner_id"]
    assert src.owner_columns == {"owner_id", "author_id"}
    titles = {(s.value, s.scope) for s in src.scoped_for("title") if s.scope_column == "team"}
    assert ("Quasar outage", "red") in titles
    assert ("Nebula login", "blue") in titles
    assert not any(v == "Printer jammed" for v, _ in titles)  # in both teams
    assert not any(v == "Shared words" for v, _ in titles)
    words = {(s.value, s.scope) for s in src.scoped_for("title") if s.origin.endswith(":words")}
    assert ("quasar", "red") in words
    texts = src.scoped_texts()
    # values only in rows without a scope first (the global note), a tenant key before owners
    assert (texts[0].value, texts[0].scope) == ("Global zephyr notice", None)
    assert texts.index(next(t for t in texts if t.scope_column == "owner_id")) > texts.index(
        next(t for t in texts if t.value == "Quasar outage" and t.scope_column == "team")
    )
    assert src.scopes["team"] == ["red", "blue"]


def test_ids_each_role_can_and_cannot_see(tmp_path: Path) -> None:
    db = _tenant_db(tmp_path)
    src = ValueSource()
    src.learn_scoped(db)
    src.learn_roles(
        db, {"red": {"email": "a@x.test", "password": "p"}, "blue": {"email": "b@x.test"}}
    )
    assert src.role_scopes["red"]["team"] == "red"
    assert src.role_scopes["blue"]["owner_id"] == 2
    mine, others = src.ids_for("ticketId", "red")
    assert set(mine) <= {1, 3, 5}
    assert mine
    assert set(others) <= {2, 4, 6}
    assert others
    assert src.ids_for("ticketId", None) == ([], [])
    assert src.ids_for("title", "red") == ([], [])
    # what a list answered the role overrules the snapshot's guess
    src.observe("tickets", "red", [1, 2])
    src.observe("tickets", "blue", [4])
    mine, others = src.ids_for("ticketId", "red")
    assert mine[:2] == [1, 2]
    assert 2 not in others
    assert 4 in others
