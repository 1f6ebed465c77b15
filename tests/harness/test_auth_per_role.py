"""Auth per role (issue 28): one pair where the admin logs in through one operation and
sends a bearer token, and a service account logs in through another and sends an API key
header. ``[auth.roles.<name>]`` overrides ``[auth]``'s scheme for its role; the run logs each
role in its own way, authorizes each role's requests on both sides, and a wrong per-role
scheme stops the run with an auth error instead of a report of agreeing 401s."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.onboard.init import init_config
from harness.setup.config import AuthConfig
from tests.fixtures.notes_pair.running import notes_pair

pytestmark = [pytest.mark.e2e]

ROLES = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}
ADMIN = '[auth.roles.admin]\nbody = { "username" = "admin", "password" = "admin-pw" }\n'
# the admin's own scheme: another login operation, its token elsewhere in the answer, sent
# as a bearer token; the reader (the service account) keeps [auth]'s X-API-Key
BEARER = (
    'login = "POST /auth/token"\ntoken_path = "$.access_token"\n'
    'header = "Authorization"\nprefix = "Bearer "\n'
)
MASK = (
    '\n[[normalize]]\nlocation = "body:$..access_token"\naction = "mask"\n'
    'pattern = "[0-9a-f]{32}"\nreason = "a new token per login"\n'
)


def _run(tmp: Path, admin_scheme: str) -> tuple[subprocess.CompletedProcess[str], list[Any]]:
    log = tmp / "access.jsonl"
    env = {"NOTES_BEARER": "1", "NOTES_ACCESS_LOG": str(log)}
    with notes_pair(tmp, env=env) as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp / "parity.toml", env=ROLES)
        text = result.text
        assert ADMIN in text, text
        assert 'header = "X-API-Key"' in text  # [auth]: the API key header
        text = text.replace(ADMIN, ADMIN + admin_scheme) + MASK
        result.config_path.write_text(text)
        log.write_text("")  # what init and the seeding sent is not the run's
        proc = subprocess.run(
            [
                sys.executable, "-m", "harness", "run", "--config", str(result.config_path),
                "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
                "--report-dir", str(tmp / "reports"), "-q",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    return proc, sent


def _results(tmp: Path) -> dict[str, Any]:
    return dict(json.loads((tmp / "reports" / "latest" / "results.json").read_text()))


def test_each_role_logs_in_and_is_authorized_its_own_way(tmp_path: Path) -> None:
    proc, sent = _run(tmp_path, BEARER)
    results = _results(tmp_path)
    assert results["errors"] == [], results["errors"]
    assert results["findings"] == [], [(f["operation"], f["location"]) for f in results["findings"]]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # each role logged in through its own operation, on both sides
    logins = [path for method, path, *_ in sent if method == "POST" and "/auth/" in path]
    assert "/v1/auth/token" in logins
    assert "/v1/auth/keys" in logins
    # the admin's requests carry a bearer token, the reader's the API key header; none both
    bearer = [s for s in sent if (s[3] or "").startswith("Bearer ")]
    keyed = [s for s in sent if s[2]]
    assert bearer
    assert keyed
    assert not [s for s in sent if s[2] and s[3]]
    # only the admin may write notes: a proven create was authorized by its bearer token
    assert ("POST", "/v1/notes") in {(s[0], s[1]) for s in bearer}
    unproven = {u["operation"] for u in results["unproven"]}
    assert "POST /notes" not in unproven, unproven
    assert "GET /notes" not in unproven, unproven


def test_a_wrong_per_role_scheme_stops_the_run_with_an_auth_error(tmp_path: Path) -> None:
    """The admin's token sent with a prefix neither side accepts: both would answer 401
    alike (no finding); the run stops instead, naming the role and how it sent the token."""
    wrong = BEARER.replace('prefix = "Bearer "', 'prefix = "Token "')
    proc, _sent = _run(tmp_path, wrong)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = _results(tmp_path)["errors"]
    assert [e["kind"] for e in errors] == ["auth"], errors
    message = errors[0]["message"]
    assert "role admin logged in" in message
    assert "header Authorization (Token)" in message
    assert "answer 401" in message


def test_a_role_scheme_falls_back_to_auth_key_by_key() -> None:
    auth = AuthConfig.model_validate(
        {
            "login": "POST /auth/keys",
            "token_path": "$.apiKey",
            "header": "X-API-Key",
            "prefix": "",
            "roles": {
                "admin": {
                    "body": {"u": "a"},
                    "login": "POST /auth/token",
                    "token_path": "$.access_token",
                    "header": "Authorization",
                    "prefix": "Bearer ",
                },
                "reader": {"body": {"u": "r"}, "prefix": "Key "},
                "service": {"token_env": "SERVICE_KEY", "token_in": "query", "name": "key"},
            },
        }
    )
    admin, reader, service = (auth.for_role(r) for r in ("admin", "reader", "service"))
    assert (admin.login, admin.token_path, admin.header, admin.prefix) == (
        "POST /auth/token",
        "$.access_token",
        "Authorization",
        "Bearer ",
    )
    assert (reader.login, reader.token_path, reader.header, reader.prefix) == (
        "POST /auth/keys",
        "$.apiKey",
        "X-API-Key",
        "Key ",
    )
    assert (service.token_in, service.name, service.header) == ("query", "key", "X-API-Key")
    assert auth.for_role("admin#3") == admin  # a session of its own is its role's
    assert auth.for_role(None).header == "X-API-Key"
    assert auth.login_operations() == ["POST /auth/keys", "POST /auth/token"]
    # a role with a login body needs a login operation somewhere
    with pytest.raises(ValueError, match="no login"):
        AuthConfig.model_validate({"roles": {"a": {"body": {}}}})
    ok = AuthConfig.model_validate({"roles": {"a": {"body": {}, "login": "POST /in"}}})
    assert ok.for_role("a").login == "POST /in"


def test_the_transport_and_curl_lines_follow_each_roles_scheme() -> None:
    from harness.cases.generation import build_request
    from harness.pair.transport import Target, Transport, curl_line

    auth = AuthConfig.model_validate(
        {
            "login": "POST /auth/keys",
            "header": "X-API-Key",
            "prefix": "",
            "roles": {
                "admin": {"body": {}, "header": "Authorization", "prefix": "Bearer "},
                "reader": {"body": {}},
                "bot": {"body": {}, "token_in": "query", "name": "api_key"},
            },
        }
    )
    legacy, candidate = Target("legacy", "http://l"), Target("candidate", "http://c")
    for role in ("admin", "reader", "bot"):
        legacy.tokens[role] = f"t-{role}"
    transport = Transport(legacy, candidate, timeout_s=1, schemes=auth.for_role)
    try:

        def req(role: str) -> Any:
            return build_request(
                operation="GET /notes", method="GET", path="/notes", query=(), headers=(),
                role=role, mode="positive",
            )  # fmt: skip

        assert transport.headers_for(legacy, req("admin")) == [("Authorization", "Bearer t-admin")]
        assert transport.headers_for(legacy, req("admin#2")) == []  # no token under that key
        assert transport.headers_for(legacy, req("reader")) == [("X-API-Key", "t-reader")]
        assert transport.headers_for(legacy, req("bot")) == []  # in the query instead
        admin = curl_line("http://l", req("admin"), scheme=auth.for_role("admin"))
        assert "-H 'Authorization: Bearer '\"${TOKEN_ADMIN}\"" in admin
        reader = curl_line("http://l", req("reader"), scheme=auth.for_role("reader"))
        assert "-H 'X-API-Key: '\"${TOKEN_READER}\"" in reader
        bot = curl_line("http://l", req("bot"), scheme=auth.for_role("bot"))
        assert '--url-query api_key="${TOKEN_BOT}"' in bot
        assert "-H" not in bot
    finally:
        transport.close()
