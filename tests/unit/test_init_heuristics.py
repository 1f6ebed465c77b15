"""``parity init``'s guesses on contracts of other shapes than the fixture pair's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.onboard.init import find_auth, propose_rules, roles_from_env, time_fields


def _doc(scheme: dict[str, Any], path: str = "/auth/login", token: str = "token") -> dict[str, Any]:
    body = {
        "type": "object",
        "properties": {"email": {"type": "string"}, "password": {"type": "string"}},
    }
    answer = {
        "type": "object",
        "properties": {token: {"type": "string"}, "at": {"type": "string", "format": "date-time"}},
    }
    return {
        "openapi": "3.0.3",
        "components": {"securitySchemes": {"s": scheme},
                       "schemas": {"Login": body, "Session": {"$ref": "#/components/schemas/S"},
                                   "S": answer}},
        "paths": {
            path: {"post": {
                "requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Login"}}}},
                "responses": {"200": {"description": "ok", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Session"}}}}},
            }},
            "/things": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("scheme", "header", "prefix"),
    [
        ({"type": "http", "scheme": "bearer"}, "Authorization", "Bearer "),
        ({"type": "http", "scheme": "token"}, "Authorization", "Token "),
        ({"type": "apiKey", "in": "header", "name": "X-Auth"}, "X-Auth", ""),
    ],
)
def test_the_scheme_and_login_operation_come_from_the_contract(
    scheme: dict[str, Any], header: str, prefix: str
) -> None:
    auth = find_auth(_doc(scheme, token="accessToken"))
    assert auth is not None
    assert (auth.header, auth.prefix) == (header, prefix)
    assert (auth.login, auth.token_path) == ("POST /auth/login", "$.accessToken")
    assert (auth.identifier, auth.secret) == ("email", "password")
    roles = roles_from_env(auth, {"PARITY_ROLE_OPS": "a@x:pw", "OTHER": "x"})
    assert roles == {"ops": {"email": "a@x", "password": "pw"}}


def test_a_scheme_parity_cannot_send_is_named() -> None:
    auth = find_auth(_doc({"type": "mutualTLS"}, token="session"))
    assert auth is not None
    assert any("unsupported" in e for e in auth.evidence)


def test_an_api_key_in_a_query_parameter_is_found() -> None:
    auth = find_auth(_doc({"type": "apiKey", "in": "query", "name": "key"}, token="apiKey"))
    assert auth is not None
    assert (auth.token_in, auth.name, auth.token_path) == ("query", "key", "$.apiKey")
    assert auth.place("k1", {}) == {"params": {"key": "k1"}}


def test_a_cookie_session_and_its_csrf_header_are_found() -> None:
    """The login answer need not carry a token: the session is the cookie it sets."""
    doc = _doc({"type": "apiKey", "in": "cookie", "name": "sid"}, token="user")
    doc["components"]["securitySchemes"]["x"] = {
        "type": "apiKey",
        "in": "header",
        "name": "X-XSRF-TOKEN",
    }
    auth = find_auth(doc)
    assert auth is not None
    assert (auth.token_in, auth.name, auth.csrf_header) == ("cookie", "sid", "X-XSRF-TOKEN")
    assert auth.place("s1", {"sid": "s1", "xsrf": "c"}) == {"headers": {"Cookie": "sid=s1; xsrf=c"}}


def test_a_login_answer_that_says_how_long_the_token_lives() -> None:
    doc = _doc({"type": "http", "scheme": "bearer"})
    doc["components"]["schemas"]["S"]["properties"]["expires_in"] = {"type": "integer"}
    auth = find_auth(doc)
    assert auth is not None
    assert auth.expires_path == "$.expires_in"


def test_time_fields_are_found_through_refs() -> None:
    assert time_fields(_doc({"type": "http", "scheme": "bearer"})) == ["at"]


def test_rules_from_two_legacy_answers_keep_their_evidence() -> None:
    rules = propose_rules(
        [
            ("GET /a", "$.items[0].rid", "0f8fad5b-d9cb-469f-a165-70867728950e",
             "7c9e6679-7425-40de-944b-e07fc1f90ae7"),
            ("GET /a", "$.at", "2026-01-01T00:00:00Z", "2026-01-01T00:00:03Z"),
            ("GET /a", "$.list", "order", None),
            ("GET /a", "$.n", 1, 2),
        ]
    )  # fmt: skip
    by_loc = {r.location: r for r in rules}
    assert by_loc["body:$..rid"].action == "mask"
    assert "0f8fad5b" in by_loc["body:$..rid"].evidence
    assert by_loc["body:$..at"].action == "tolerance"
    assert by_loc["body:$.list"].action == "unordered"
    assert by_loc["body:$..n"].action == "ignore"


def test_init_and_doctor_on_bad_input_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main
    from tests.fixtures.notes_pair.running import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    out = tmp_path / "parity.toml"
    assert main(["init", "--legacy", url, "--candidate", url, "--out", str(out)]) == 2
    assert "does not answer" in capsys.readouterr().err
    assert not out.exists()
    missing = str(tmp_path / "none.toml")
    assert main(["doctor", "--config", missing, "--legacy-url", url, "--candidate-url", url]) == 2
    assert "cannot read config" in capsys.readouterr().err


def test_databases_both_or_neither_and_sqlite_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bad --*-db is a clear error before any service is asked, exit 2, no file written."""
    from harness.cli import main
    from tests.fixtures.notes_pair.running import free_port

    url = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "parity.toml"
    args = ["init", "--legacy", url, "--candidate", url, "--out", str(out)]
    assert main([*args, "--legacy-db", str(tmp_path / "a.db")]) == 2
    assert "--candidate-db is missing" in capsys.readouterr().err
    (tmp_path / "junk.db").write_text("not a database")
    bad = ["--legacy-db", str(tmp_path / "junk.db"), "--candidate-db", str(tmp_path / "junk.db")]
    assert main([*args, *bad]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    assert not out.exists()


def test_time_columns_get_a_tolerance_and_other_tables_are_named(tmp_path: Path) -> None:
    import sqlite3

    from harness.onboard.init import check_databases, database_rules

    for name, table in (("legacy", "notes"), ("candidate", "note")):
        with sqlite3.connect(tmp_path / f"{name}.db") as conn:
            conn.execute(f"CREATE TABLE {table} (id INTEGER, title TEXT, stamp TEXT, due TEXT)")
            conn.execute(
                f"INSERT INTO {table} VALUES (1, '2026-01-01', '2026-01-01T00:00:00Z', NULL)"
            )
    dbs = check_databases(str(tmp_path / "legacy.db"), str(tmp_path / "candidate.db"))
    rules, comments = database_rules(dbs, ["dueAt", "due"])
    # stamp holds times, due is named as a date-time field; a title holding a date is no clock
    assert {r.location for r in rules} == {"db:notes.stamp", "db:notes.due"}
    assert all(r.action == "tolerance" for r in rules)
    assert len(comments) == 1
    assert "only the legacy has: notes; only the candidate: note" in comments[0]


def test_doctor_names_a_database_that_is_not_one_and_a_mapped_table_that_is_not_there(
    tmp_path: Path,
) -> None:
    import sqlite3

    from harness.onboard.doctor import check_databases
    from harness.setup.config import load_config

    with sqlite3.connect(tmp_path / "legacy.db") as conn:
        conn.execute("CREATE TABLE notes (id INTEGER)")
    (tmp_path / "candidate.db").write_text("not a database")
    config = tmp_path / "parity.toml"
    config.write_text(
        '[external]\ndatabases = { legacy = "legacy.db", candidate = "candidate.db" }\n'
        '[[db.map]]\nlegacy = "notes"\ncandidate = "note"\n'
        '[[db.map]]\nlegacy = "articles"\ncandidate = "article"\n'
    )
    lines = [p.line() for p in check_databases(load_config(config))]
    assert len(lines) == 2, lines
    assert "databases.candidate" in lines[0]
    assert "not a SQLite database" in lines[0]
    assert "[[db.map]] #2" in lines[1]
    assert "no table 'articles'" in lines[1]
    assert "notes" in lines[1]  # what it could name instead
    # both good: quiet
    with sqlite3.connect(tmp_path / "good.db") as conn:
        conn.execute("CREATE TABLE note (id INTEGER)")
    config.write_text(
        '[external]\ndatabases = { legacy = "legacy.db", candidate = "good.db" }\n'
        '[[db.map]]\nlegacy = "notes"\ncandidate = "note"\n'
    )
    assert check_databases(load_config(config)) == []


def test_every_header_is_compared_but_those_two_answers_disagreed_on() -> None:
    """A header one endpoint sends and another does not is still compared; a request id
    that changes per answer is not, and its evidence is kept."""
    import httpx

    from harness.onboard.init import HeaderNoise

    noise = HeaderNoise()
    plain = {"content-type": "application/json", "date": "x"}
    noise.add("GET /health", httpx.Response(200, headers=plain), httpx.Response(200, headers=plain))
    cached = {**plain, "cache-control": "no-store"}
    noise.add(
        "GET /notes",
        httpx.Response(200, headers={**cached, "x-request-id": "a1"}),
        httpx.Response(200, headers={**cached, "x-request-id": "b2"}),
    )
    assert noise.seen == {"content-type", "cache-control", "x-request-id"}
    assert set(noise.noisy) == {"x-request-id"}
    assert '"a1"' in noise.noisy["x-request-id"]
