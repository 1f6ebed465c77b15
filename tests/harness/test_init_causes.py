"""One cause, one finding; a status pair's body shapes; accepted input (issue 28), on the
notes pair with the config ``parity init`` wrote (more negative cases, so both shapes of
the planted 422 show)."""

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


def _run(tmp: Path, drift: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    with notes_pair(tmp, drift, env=env) as (legacy, candidate):
        result = init_config(legacy, candidate, out=tmp / "parity.toml", env=ROLES)
        result.config_path.write_text(result.text.replace("negative = 5\n", "negative = 30\n"))
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
    return proc.returncode, json.loads((tmp / "reports" / "latest" / "results.json").read_text())


def test_one_cause_is_one_finding_and_two_body_shapes_are_two(tmp_path: Path) -> None:
    code, results = _run(tmp_path, "missing,shapes")
    assert code == 1, results["verdict"]
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for f in results["findings"]:
        found.setdefault((f["operation"], f["location"]), []).append(f)
    # the unknown id answered 400: seen by the stateless cases and by two trailing-slash
    # probe routes (GET /notes/, GET /notes/{id}/), reported once
    assert set(found) == {
        ("GET /notes/{id}", "status:404 vs 400"),
        ("POST /notes", "status:400 vs 422"),
    }
    (missing,) = found[("GET /notes/{id}", "status:404 vs 400")]
    assert {"probes", "stateless"} <= set(missing["phases"])
    assert {x.get("operation") for x in missing["locations"]} >= {"GET /notes/", "GET /notes/{id}/"}
    assert missing["cause"] == (
        "{error,requestId} -> {code,message,requestId} · 'note not found' -> 'invalid id'"
    )
    # the planted 422 has two body shapes, one per cause (a missing title, any other bad
    # field): two findings under one status pair, each with its own example; the messages
    # both sides give alike (which field) split nothing
    shapes = {f["cause"]: f for f in found[("POST /notes", "status:400 vs 422")]}
    assert set(shapes) == {
        "{error,requestId} -> {detail,requestId}",
        "{error,requestId} -> {errors,requestId}",
    }
    for cause, f in shapes.items():
        assert "one of 2 causes" in f["summary"], f["summary"]
        assert f["previous_ids"]
        assert f["id"] not in f["previous_ids"]
        body = f["example"]["steps"][-1]["candidate"]["body"]
        assert ("detail" if "detail" in cause else "errors") in body, body
    assert len({f["id"] for f in shapes.values()}) == 2
    assert len({tuple(f["previous_ids"]) for f in shapes.values()}) == 1


@pytest.mark.parametrize("lax", [True, False])
def test_input_both_sides_accept_against_the_contract_is_listed_not_drift(
    tmp_path: Path, lax: bool
) -> None:
    """Both sides take ``limit`` past its maximum and titles past maxLength: not drift."""
    code, results = _run(tmp_path, "", {"NOTES_LAX": "1"} if lax else None)
    # the candidate publishes the same contract: the static check ran and found nothing
    assert 'candidate_contract = "/openapi.json"' in (tmp_path / "parity.toml").read_text()
    assert "contract" in results["config"]["phases"]
    assert results["findings"] == []
    assert code == 0, results["verdict"]
    listed = {a["operation"]: a for a in results["accepted_inputs"]}
    if not lax:
        assert listed == {}
        return
    assert set(listed) == {"GET /notes", "POST /notes"}
    assert listed["GET /notes"]["breaks"] == ["query limit='101'"]
    assert listed["POST /notes"]["breaks"][0].startswith('body {"title": "aaaa')
    reports = tmp_path / "reports" / "latest"
    assert "Accepted input" in (reports / "summary.md").read_text()
    assert 'id="accepted-inputs"' in (reports / "parity.html").read_text()


def test_static_contract_drift_is_found_before_any_request(tmp_path: Path) -> None:
    """The candidate answers alike but publishes another contract: three changes, each a
    ``contract`` finding, and nothing else."""
    code, results = _run(tmp_path, "contract")
    assert code == 1, results["verdict"]
    found = {(f["operation"], f["location"], f["kind"], f["phase"]) for f in results["findings"]}
    assert found == {
        ("GET /notes", "contract:query.limit", "contract", "contract"),
        ("GET /notes/{id}", "contract:response.404", "contract", "contract"),
        ("GET /notes/{id}", "contract:response.200$.tags", "contract", "contract"),
    }
