"""Auth the notes pair can ask for beyond a header (issue 28): an API key in a query
parameter, and a cookie session whose unsafe requests need a CSRF token, with keys that
expire mid-run. ``parity init`` finds each from the contract and a real login; the run
sends the credentials where they go, renews an ending key (not drift) and still catches
the planted drift; the agreeing pair stays quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.onboard.init import init_config
from tests.fixtures.notes_pair.running import notes_pair

pytestmark = [pytest.mark.e2e]

ROLES = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}


def _init_and_run(
    tmp: Path, drift: str, auth: str, key_ttl: float = 0, positive: int = 0
) -> tuple[int, dict[str, Any], str]:
    with notes_pair(tmp, drift, auth=auth, key_ttl=key_ttl) as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp / "parity.toml", env=ROLES)
        assert result.notes == []
        if positive:  # a run that outlasts the keys on any machine: more cases, not a wait
            text = result.config_path.read_text()
            assert "\npositive = 10\n" in text
            result.config_path.write_text(
                text.replace("\npositive = 10\n", f"\npositive = {positive}\n")
            )
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
    results = json.loads((tmp / "reports" / "latest" / "results.json").read_text())
    return proc.returncode, results, result.text


def _where(results: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["operation"], f["location"]) for f in results["findings"]}


@pytest.mark.parametrize("drift", ["missing", ""])
def test_an_api_key_in_a_query_parameter(tmp_path: Path, drift: str) -> None:
    code, results, text = _init_and_run(tmp_path, drift, "query")
    assert 'token_in = "query"' in text
    assert 'name = "api_key"' in text
    if drift:
        assert code == 1, results["verdict"]
        assert ("GET /notes/{id}", "status:404 vs 400") in _where(results)
    else:
        assert results["findings"] == [], _where(results)
        assert code == 0, results["verdict"]


@pytest.mark.parametrize("drift", ["accepted", ""])
def test_a_cookie_session_with_csrf_and_keys_that_expire(tmp_path: Path, drift: str) -> None:
    """Keys live 2 s, the run longer (twelve times the cases init writes: a faster run on an
    idle machine sent its last request before the renewal point, 1.2 s): each role is
    logged in again before its key ends. A create proven (or its 201 vs 200 caught) shows
    the CSRF token was sent."""
    code, results, text = _init_and_run(tmp_path, drift, "cookie", key_ttl=2, positive=120)
    assert results["duration_s"] > 2, "the run must outlast a key for this test to mean much"
    assert 'token_in = "cookie"' in text
    assert 'name = "sid"' in text
    assert 'csrf_header = "X-CSRF-Token"' in text
    assert 'csrf_from = "cookie:csrftoken"' in text
    assert 'expires_path = "$.expiresIn"' in text
    renewed = [n for n in results["warnings"] if "logged in again" in n]
    assert renewed, results["warnings"]
    if drift:
        assert code == 1, results["verdict"]
        assert ("POST /notes", "status:201 vs 200") in _where(results)
    else:
        assert results["findings"] == [], _where(results)
        assert code == 0, results["verdict"]
