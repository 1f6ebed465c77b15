"""``parity init --calibrate-writes`` (issue 28): each create sent twice to the legacy shows
what varies between two writes; on the notes pair, started here (never a user's data), the
proposals carry their evidence, the pair stays in step and the generated file still runs
quiet on the agreeing pair. Without the flag nothing is written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.onboard.init import init_config
from tests.fixtures.notes_pair.running import NOTES, notes_pair

pytestmark = [pytest.mark.e2e]

ROLES = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}


def _titles(url: str) -> list[str]:
    with httpx.Client(base_url=url + "/v1", timeout=30) as client:
        key = client.post("/auth/keys", json={"username": "admin", "password": "admin-pw"})
        got = client.get("/notes", headers={"X-API-Key": key.json()["apiKey"]})
        return [n["title"] for n in got.json()["items"]]


def test_calibrated_writes_propose_rules_with_evidence_and_keep_the_pair_in_step(
    tmp_path: Path,
) -> None:
    with notes_pair(tmp_path) as (legacy, candidate):
        result = init_config(
            legacy, candidate, out=tmp_path / "parity.toml", env=ROLES, writes=True
        )
        assert result.notes == []
        text = result.text
        # both sides got the same two creates: the pair stays in step
        assert _titles(legacy) == _titles(candidate)
        assert len(_titles(legacy)) == len(NOTES) + 2
        proc = subprocess.run(
            [
                sys.executable, "-m", "harness", "run", "--config", str(result.config_path),
                "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
                "--report-dir", str(tmp_path / "reports"), "-q",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    print(text)
    where = "POST /notes (a write sent twice to the legacy as admin)"
    assert "# writes calibrated (--calibrate-writes)" in text
    # the new row's id: a counter, named with its two values, left compared
    counter = next(line for line in text.splitlines() if line.startswith(f"# {where}: $.id "))
    assert "a counter" in counter
    assert '# location = "body:$..id"' in text
    # the request id and the stamp: the two values as evidence, covered by the read rules
    assert f"# {where} $.requestId: " in text
    assert f"# {where} $.createdAt: " in text
    results: dict[str, Any] = json.loads(
        (tmp_path / "reports" / "latest" / "results.json").read_text()
    )
    assert results["findings"] == [], [f["summary"] for f in results["findings"]]
    assert proc.returncode == 0, results["verdict"]


def test_without_the_flag_init_writes_nothing(tmp_path: Path) -> None:
    with notes_pair(tmp_path) as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=ROLES)
        assert len(_titles(legacy)) == len(NOTES)
        assert len(_titles(candidate)) == len(NOTES)
    assert "calibrate-writes" not in result.text
