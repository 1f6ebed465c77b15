"""``parity init`` then ``parity run`` on a pair parity did not write (issue 28): the
generated file runs with no edits, finds the planted differences and stays quiet on an
agreeing pair."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.onboard.init import init_config
from tests.fixtures.notes_pair.running import ALL_DRIFTS, notes_pair

pytestmark = [pytest.mark.e2e]

ROLES = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}


def _init_and_run(tmp: Path, drift: str) -> tuple[int, dict[str, Any], str, float]:
    started = time.monotonic()
    with notes_pair(tmp, drift) as (legacy, candidate):
        result = init_config(
            legacy,
            candidate,
            out=tmp / "parity.toml",
            env=ROLES,
            legacy_db=str(tmp / "legacy.db"),
            candidate_db=str(tmp / "candidate.db"),
        )
        assert result.notes == []
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
    return proc.returncode, results, result.text, time.monotonic() - started


def _locations(results: dict[str, Any]) -> set[tuple[str, str]]:
    out = set()
    for f in results["findings"]:
        for loc in [f["location"], *(x["location"] for x in f.get("locations", []))]:
            out.add((f["operation"], loc))
    return out


def _kinds(results: dict[str, Any]) -> dict[tuple[str, str], str]:
    out = {}
    for f in results["findings"]:
        out[(f["operation"], f["location"])] = f["kind"]
        for x in f.get("locations", []):
            out[(f["operation"], x["location"])] = x.get("kind", f["kind"])
    return out


def test_init_generates_a_config_that_finds_the_planted_drift(tmp_path: Path) -> None:
    code, results, text, wall = _init_and_run(tmp_path, ALL_DRIFTS)
    print(f"init to report: {wall:.1f} s")
    assert 'base_path = "/v1"' in text
    assert 'header = "X-API-Key"' in text
    assert 'login = "POST /auth/keys"' in text
    assert 'headers = ["*"]' in text  # every header, cache-control among them
    assert "# - x-request-id: GET /notes" in text  # noise, not compared
    skip = next(line for line in text.splitlines() if line.startswith("skip_headers = "))
    assert '"x-request-id"' in skip
    assert '"date"' in skip  # the default list kept
    assert code == 1, results["verdict"]
    where = _locations(results)
    assert ("GET /notes/{id}", "status:404 vs 400") in where  # status pair, other bodies
    assert ("POST /notes", "status:201 vs 200") in where  # the accepted-status candidate
    assert ("GET /notes/{id}", "body:$.createdAt") in where  # time shift
    assert ("GET /notes", "header:cache-control") in where  # changed header
    assert ("GET /notes", "body:$.items") in where  # reordering
    assert ("POST /notes", "db:notes") in where  # the renamed table, found by its columns
    assert all(loc != "body:$..requestId" for _, loc in where)  # noise stays quiet
    # and nothing else: one finding per planted cause (the changed header travels with the
    # reordered list: the same requests show both), no other place but the reordered
    # list's items (the fields of other items at the same positions)
    heads = {(f["operation"], f["location"], f["kind"]) for f in results["findings"]}
    assert heads == {
        ("GET /notes/{id}", "status:404 vs 400", "status"),
        ("POST /notes", "status:201 vs 200", "status"),
        ("GET /notes/{id}", "body:$.createdAt", "time"),
        ("GET /notes", "body:$.items", "ordering"),
        ("POST /notes", "db:notes", "db_table"),
    }, heads
    others = {
        (op, loc)
        for op, loc in where
        if (op, loc) not in {(h[0], h[1]) for h in heads}
        and not (op == "GET /notes" and loc.startswith("body:$.items[*]."))
    }
    assert others == {("GET /notes", "header:cache-control")}, others
    kinds = _kinds(results)
    assert kinds[("GET /notes/{id}", "body:$.createdAt")] == "time"
    assert kinds[("POST /notes", "db:notes")] == "db_table"
    shifts = [
        x["summary"]
        for f in results["findings"]
        for x in [f, *f.get("locations", [])]
        if x["kind"] == "time"
    ]
    # +42 s planted, plus the seconds between seeding one side and the other
    found = [float(m) for s in shifts for m in re.findall(r"time \+([\d.]+) s", s)]
    assert found, shifts
    assert all(42 <= x < 60 for x in found), shifts


def test_init_on_an_agreeing_pair_stays_quiet(tmp_path: Path) -> None:
    code, results, _, _ = _init_and_run(tmp_path, "")
    assert results["findings"] == []
    assert code == 0, results["verdict"]


def test_doctor_names_each_planted_mistake(tmp_path: Path) -> None:
    with notes_pair(tmp_path) as (legacy, candidate):
        config = init_config(
            legacy,
            candidate,
            out=tmp_path / "parity.toml",
            env=ROLES,
            legacy_db=str(tmp_path / "legacy.db"),
            candidate_db=str(tmp_path / "candidate.db"),
        )
        args = ["doctor", "--config", str(config.config_path)]
        args += ["--legacy-url", legacy, "--candidate-url", candidate]
        clean = subprocess.run(
            [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120
        )
        assert clean.returncode == 0, clean.stdout
        broken = (
            config.text.replace('"reader-pw"', '"wrong-pw"')
            .replace('header = "X-API-Key"', 'header = "Authorization"')
            .replace("base_path =", 'exclude = ["GET /note"]\nbase_path =', 1)
        )
        config.config_path.write_text(broken)
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120
        )
    print(proc.stdout)
    lines = proc.stdout.splitlines()[:-1]
    assert proc.returncode == 1
    assert len(lines) == 3, lines
    assert any("exclude" in line and "GET /note" in line for line in lines)
    assert any("[auth.roles.reader]" in line for line in lines)
    assert any("answers 401" in line and "securitySchemes" in line for line in lines)


def test_an_accepted_status_pair_still_shows_its_body_difference(tmp_path: Path) -> None:
    """With the plain status rule added, 201 vs 200 is equal and the missing field shows."""
    with notes_pair(tmp_path, "accepted") as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=ROLES)
        result.config_path.write_text(
            result.text
            + '\n[[normalize]]\noperation = "POST /notes"\n'
            + 'status = { legacy = 201, candidate = 200 }\nreason = "the port answers 200"\n'
        )
        proc = subprocess.run(
            [
                sys.executable, "-m", "harness", "run", "--config", str(result.config_path),
                "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
                "--report-dir", str(tmp_path / "reports"), "-q", "--operation", "POST /notes",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )  # fmt: skip
    results = json.loads((tmp_path / "reports" / "latest" / "results.json").read_text())
    where = _locations(results)
    assert proc.returncode == 1, proc.stdout
    assert ("POST /notes", "body:$.tags") in where
    assert not any(loc.startswith("status:") for _, loc in where)


def test_doctor_names_operations_no_route_reaches(tmp_path: Path) -> None:
    """A GET the services do not serve is named; a secured DELETE is probed anonymously, so it
    deletes nothing (this service checks the key before routing, so its 401 cannot tell)."""
    with notes_pair(tmp_path) as (legacy, candidate):
        config = init_config(legacy, candidate, out=tmp_path / "parity.toml", env=ROLES)
        spec_path = tmp_path / "parity.openapi.json"
        spec = json.loads(spec_path.read_text())
        ok = {"200": {"description": "ok"}}
        spec["paths"]["/archive"] = {"get": {"responses": ok}}
        spec["paths"]["/notes/{id}"]["delete"] = {
            "parameters": spec["paths"]["/notes/{id}"]["get"]["parameters"],
            "responses": ok,
        }
        spec_path.write_text(json.dumps(spec))
        args = ["doctor", "--config", str(config.config_path)]
        proc = subprocess.run(
            [sys.executable, "-m", "harness", *args, "--legacy-url", legacy,
             "--candidate-url", candidate],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        with httpx.Client() as client:  # the anonymous DELETE removed nothing
            key = client.post(
                legacy + "/v1/auth/keys", json={"username": "admin", "password": "admin-pw"}
            ).json()["apiKey"]
            assert client.get(legacy + "/v1/notes/1", headers={"X-API-Key": key}).is_success
    lines = proc.stdout.splitlines()[:-1]
    assert proc.returncode == 1
    assert [line.split(":")[0] for line in lines] == ["GET /archive"]


def _run(config: Path, legacy: str, candidate: str, reports: Path) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [
            sys.executable, "-m", "harness", "run", "--config", str(config),
            "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
            "--report-dir", str(reports), "-q", "--operation", "POST /notes",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    return proc.returncode, json.loads((reports / "latest" / "results.json").read_text())


@pytest.mark.slow
def test_a_renamed_table_is_one_db_table_finding_and_quiet_once_declared(tmp_path: Path) -> None:
    """Nothing in the answers shows the rename; the writes do, paired by their columns."""
    with notes_pair(tmp_path, "table") as (legacy, candidate):
        result = init_config(
            legacy,
            candidate,
            out=tmp_path / "parity.toml",
            env=ROLES,
            legacy_db=str(tmp_path / "legacy.db"),
            candidate_db=str(tmp_path / "candidate.db"),
        )
        assert "only the legacy has: notes; only the candidate: note" in result.text
        code, found = _run(result.config_path, legacy, candidate, tmp_path / "r1")
        declared = tmp_path / "declared.toml"
        declared.write_text(result.text + '\n[[db.map]]\nlegacy = "notes"\ncandidate = "note"\n')
        quiet_code, quiet = _run(declared, legacy, candidate, tmp_path / "r2")
    assert code == 1, found["verdict"]
    assert [(f["operation"], f["location"], f["kind"]) for f in found["findings"]] == [
        ("POST /notes", "db:notes", "db_table")
    ]
    assert quiet["findings"] == []
    assert quiet_code == 0, quiet["verdict"]
