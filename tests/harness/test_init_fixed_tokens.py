"""Fixed tokens per role and a pair with no login operation (issue 28): the notes pair with
``NOTES_NO_LOGIN=1`` serves only keys provisioned out of band (``NOTES_FIXED_KEYS``), and
its contract has a security scheme but nothing to log in with. ``parity init`` writes the
fixed-token form (``token_env`` per role); ``parity run`` sends each role's key as is and
still catches the planted drift; a refused key stops the run (exit 2) naming its variable,
a key revoked mid-run is reported as such; ``parity doctor`` names a missing or refused
token in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.onboard.doctor import diagnose
from harness.onboard.init import init_config
from harness.setup.config import load_config, token_variable
from harness.setup.contract import load_contract
from tests.fixtures.notes_pair.running import notes_pair

pytestmark = [pytest.mark.e2e]

KEYS = {"NOTES_NO_LOGIN": "1", "NOTES_FIXED_KEYS": "key-admin:admin,key-reader:reader"}
TOKENS = {"PARITY_TOKEN_ADMIN": "key-admin", "PARITY_TOKEN_READER": "key-reader"}


def _run(config: Path, legacy: str, candidate: str, tmp: Path, env: dict[str, str]) -> Any:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARITY_TOKEN_")}
    return subprocess.run(
        [
            sys.executable, "-m", "harness", "run", "--config", str(config),
            "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
            "--report-dir", str(tmp / "reports"), "-q",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**clean, **env},
    )  # fmt: skip


def _results(tmp: Path) -> dict[str, Any]:
    return dict(json.loads((tmp / "reports" / "latest" / "results.json").read_text()))


def test_token_variable_names() -> None:
    assert token_variable("admin") == "PARITY_TOKEN_ADMIN"
    assert token_variable("ops-lead.eu") == "PARITY_TOKEN_OPS_LEAD_EU"


def test_a_pair_without_a_login_runs_on_fixed_tokens(tmp_path: Path) -> None:
    with notes_pair(tmp_path, "missing", env=KEYS, seed_key="key-admin") as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=TOKENS)
        text = result.text
        assert result.notes == [], result.notes
        assert "\nlogin =" not in text
        assert 'token_env = "PARITY_TOKEN_ADMIN"' in text
        assert 'token_env = "PARITY_TOKEN_READER"' in text
        assert "export PARITY_TOKEN_ADMIN=<token>" in text
        assert 'header = "X-API-Key"' in text
        proc = _run(result.config_path, legacy, candidate, tmp_path, TOKENS)
        results = _results(tmp_path)
        assert proc.returncode == 1, (proc.stderr[-2000:], results["verdict"])
        where = {(f["operation"], f["location"]) for f in results["findings"]}
        # reading a note needs a key: the drift shows only on an authenticated request
        assert ("GET /notes/{id}", "status:404 vs 400") in where
        assert not [w for w in results["warnings"] if "fixed token" in w], results["warnings"]

        # a wrong token: refused before anything else, exit 2 naming the variable
        proc = _run(
            result.config_path,
            legacy,
            candidate,
            tmp_path,
            {**TOKENS, "PARITY_TOKEN_READER": "not-a-key"},
        )
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        error = _results(tmp_path)["errors"][0]
        assert error["kind"] == "auth", error
        assert "$PARITY_TOKEN_READER" in error["message"], error
        assert "refused" in error["message"], error
        # a missing one: exit 2 too
        proc = _run(
            result.config_path, legacy, candidate, tmp_path, {"PARITY_TOKEN_ADMIN": "key-admin"}
        )
        assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
        assert "$PARITY_TOKEN_READER" in _results(tmp_path)["errors"][0]["message"]


def test_doctor_names_a_missing_and_a_refused_fixed_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with notes_pair(tmp_path, env=KEYS, seed_key="key-admin") as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=TOKENS)
        config = load_config(result.config_path)
        contract = load_contract(config.resolve(config.contract or ""))
        urls = {"legacy": legacy, "candidate": candidate}
        monkeypatch.setenv("PARITY_TOKEN_ADMIN", "key-admin")
        monkeypatch.setenv("PARITY_TOKEN_READER", "key-reader")
        assert [p.line() for p in diagnose(config, contract, urls)] == []
        monkeypatch.delenv("PARITY_TOKEN_ADMIN")
        monkeypatch.setenv("PARITY_TOKEN_READER", "revoked")
        lines = [p.line() for p in diagnose(config, contract, urls)]
    assert len(lines) == 2, lines
    admin = next(line for line in lines if "[auth.roles.admin]" in line)
    reader = next(line for line in lines if "[auth.roles.reader]" in line)
    assert "$PARITY_TOKEN_ADMIN is not set" in admin
    assert "export PARITY_TOKEN_ADMIN=" in admin
    assert "fixed token ($PARITY_TOKEN_READER) is refused" in reader
    assert "legacy 401" in reader
    assert "candidate 401" in reader


def test_a_fixed_token_revoked_mid_run_is_reported(tmp_path: Path) -> None:
    """The keys stop working after 12 requests each (seeding and the start check use some):
    parity does not try to log in again (there is no login) and says which token ended."""
    env = {**KEYS, "NOTES_FIXED_USES": "12"}
    with notes_pair(tmp_path, env=env, seed_key="key-admin") as (legacy, candidate):
        result = init_config(
            legacy, candidate, out=tmp_path / "parity.toml", env={"PARITY_TOKEN_ADMIN": "x"}
        )
        # both sides spend their uses in step, header-noise learning included (it asks the
        # pair again, not the legacy alone, so neither key is revoked first)
        assert "learn_headers = false" not in result.config_path.read_text()
        # init used no key (it was given a wrong one): the run starts with 9 uses left
        proc = _run(
            result.config_path, legacy, candidate, tmp_path, {"PARITY_TOKEN_ADMIN": "key-admin"}
        )
    results = _results(tmp_path)
    assert results["errors"] == [], results["errors"]
    revoked = [w for w in results["warnings"] if "fixed token" in w]
    assert len(revoked) == 1, results["warnings"]
    assert "role admin's fixed token ($PARITY_TOKEN_ADMIN) was refused with 401" in revoked[0]
    assert "never renewed" in revoked[0]
    assert not [w for w in results["warnings"] if "logged in again" in w]
    # the rejected cases are blamed on the token, not on the contract
    assert not [w for w in results["warnings"] if "rejected" in w], results["warnings"]
    assert results["verdict"] == "incomplete"
    assert proc.returncode == 2


def test_probe_kinds_switched_off_send_nothing_and_are_listed(tmp_path: Path) -> None:
    """``[probes] options = false, auth = false``: no OPTIONS preflight and no varied
    credentials reach either service (the services log every request), while the kinds left
    on (HEAD, undeclared methods) still go out; the results, console and report list the two
    kinds as skipped."""
    log = tmp_path / "access.jsonl"
    roles = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}
    with notes_pair(tmp_path, env={"NOTES_ACCESS_LOG": str(log)}) as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=roles)
        with result.config_path.open("a") as config:
            config.write("\n[probes]\noptions = false\nauth = false\n")
        log.write_text("")  # what init and the seeding sent is not the run's
        proc = _run(result.config_path, legacy, candidate, tmp_path, {})
    results = _results(tmp_path)
    assert results["errors"] == [], results["errors"]
    assert results["config"]["probes_skipped"] == ["options", "auth"]
    assert "probes skipped ([probes]): options, auth" in proc.stdout
    html = (tmp_path / "reports" / "latest" / "parity.html").read_text()
    assert "probes skipped ([probes]): options, auth" in html
    sent = [json.loads(line) for line in log.read_text().splitlines()]
    methods = {method for method, _, _ in sent}
    assert "HEAD" in methods  # a kind left on
    assert "DELETE" in methods  # undeclared methods: no operation of the contract is a DELETE
    assert "OPTIONS" not in methods
    keys = {key for _, _, key in sent}
    assert not keys & {"Bearer parity-probe-token", "Token parity-probe-token", "not.a.valid.token"}
    assert "" not in keys, "the empty-credentials probe went out"


def test_fixed_token_config_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from harness.errors import HarnessError
    from harness.setup.config import AuthConfig

    with pytest.raises(ValidationError, match="no login operation"):
        AuthConfig.model_validate({"roles": {"admin": {"body": {"u": "a"}}}})
    auth = AuthConfig.model_validate(
        {
            "login": "POST /login",
            "roles": {"admin": {"body": {"u": "a"}}, "bot": {"token_env": "BOT_KEY"}},
        }
    )
    env = {"PARITY_TOKEN_ADMIN": "fixed-admin"}
    assert auth.fixed_token("admin", env) == "fixed-admin"  # the variable wins over the login
    assert auth.fixed_token("admin", {}) is None  # else the role logs in
    with pytest.raises(HarnessError, match=r"set \$BOT_KEY") as err:
        auth.fixed_token("bot", {"PARITY_TOKEN_BOT": "ignored: token_env names the variable"})
    assert err.value.kind == "auth"
    assert auth.fixed_token("bot", {"BOT_KEY": "k"}) == "k"
