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
    auth = find_auth(_doc({"type": "apiKey", "in": "cookie", "name": "sid"}, token="session"))
    assert auth is not None
    assert any("unsupported" in e for e in auth.evidence)


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
