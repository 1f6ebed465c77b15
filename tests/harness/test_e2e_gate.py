"""The gate fails closed and stays quiet (issue 24), on the fixture pair: a phase that sees
only 401s proves nothing, an accepted status pair still compares the body, and a status rule
lets sequences follow the links of the creates it covers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.conftest import RunPair, make_config

pytestmark = [pytest.mark.e2e]

# a profile after the stateless phase whose phases repeat what succeeded (rows, sequences);
# no probes: their setup logs a session out, and the blind switch ends everything at a logout
BLIND_PROFILE = """
[profiles.gate]
positive = 8
negative = 2
probes = false
invariants = false
shrink = false
stateful_sequences = 6
max_steps = 3
"""


def _with_logout(pair_dir: Path) -> None:
    """The fixture contract with its logout declared (last: after the items are proven)."""
    contract = pair_dir / "openapi.yaml"
    data = yaml.safe_load(contract.read_text())
    data["paths"]["/logout"] = {
        "post": {
            "operationId": "logout",
            "responses": {"204": {"description": "logged out"}, "401": {"description": "no"}},
        }
    }
    contract.write_text(yaml.safe_dump(data, sort_keys=False))


def _both_sides(pair_dir: Path, drift: str) -> Path:
    """A config whose legacy and candidate both run with ``drift`` (they agree, and both
    misbehave alike)."""
    path = make_config(pair_dir, drift=drift, extra=BLIND_PROFILE)
    path.write_text(path.read_text().replace('PAIR_DRIFT = ""', f'PAIR_DRIFT = "{drift}"', 1))
    return path


def test_a_phase_that_sees_only_401s_makes_the_run_incomplete(
    run_pair: RunPair, pair_dir: Path, tmp_path: Path
) -> None:
    _with_logout(pair_dir)
    # both sides: a logout ends every session and no login succeeds after it
    code, results = run_pair(
        "--seed", "4", "--profile", "gate", config=_both_sides(pair_dir, "endall")
    )
    assert results["verdict"] == "incomplete", (results["messages"], results["stats"])
    assert code == 2
    assert results["unproven"] == []  # every operation was proven before the logout
    blind = {p["phase"]: p for p in results["unproven_phases"]}
    assert "rows" in blind, results["stats"]["phase_proof"]
    assert blind["rows"]["succeeded"] < blind["rows"]["sent"] / 2
    assert any(m.startswith("phase rows proved nothing") for m in results["messages"])
    latest = tmp_path / "reports" / "latest"
    assert "`rows`" in (latest / "summary.md").read_text()
    assert "Phases that proved nothing" in (latest / "parity.html").read_text()


def test_the_same_pair_whose_logout_ends_one_session_is_proven(
    run_pair: RunPair, pair_dir: Path
) -> None:
    _with_logout(pair_dir)
    code, results = run_pair("--seed", "4", "--profile", "gate", config=_both_sides(pair_dir, ""))
    assert (code, results["verdict"]) == (0, "agree"), results["messages"]
    assert results["unproven_phases"] == []
    proof: dict[str, Any] = results["stats"]["phase_proof"]
    assert proof["rows"]["succeeded"] >= proof["rows"]["sent"] / 2 > 0, proof


def test_an_accepted_status_pair_still_shows_a_body_difference(run_pair: RunPair) -> None:
    accept = (
        '\n[[accept]]\noperation = "POST /items"\nlocation = "status:201 vs 200"\nkind = "status"\n'
        'reason = "the port answers 200 on create"\nexpires = 2099-01-01\n'
    )
    code, results = run_pair(
        "--seed", "4", "--operation", "POST /items", drift="created200,wrongprice", extra=accept
    )
    assert code == 1, results["messages"]
    places = {(f["operation"], f["location"], f["accepted"]) for f in results["findings"]}
    assert ("POST /items", "status:201 vs 200", True) in places
    assert ("POST /items", "body:$.price", False) in places, places


LINKED = """
[profiles.linked]
stateless = false
require_proof = false
probes = false
invariants = false
stateful_sequences = 12
max_steps = 4

[[normalize]]
operation = "POST /items"
location = "status"
action = "status"
legacy = "201"
candidate = "200"
reason = "the port answers 200 on create"
"""


def test_a_status_rule_lets_sequences_follow_the_creates_links(
    run_pair: RunPair, pair_dir: Path
) -> None:
    (pair_dir / "parity.toml").write_text(
        (pair_dir / "parity.toml")
        .read_text()
        .replace(
            'contract = "openapi.yaml"',
            'contract = "openapi.yaml"\noverlays = ["links.overlay.yaml"]',
        )
    )
    code, results = run_pair("--seed", "4", "--profile", "linked", drift="created200", extra=LINKED)
    assert code == 0, results["messages"]
    stateful = results["stats"]["stateful"]
    assert stateful["depth"] >= 2, stateful
    assert stateful["steps"] > stateful["sequences"], stateful
    # a drift only a followed link reaches: an update that does not persist
    code, results = run_pair(
        "--seed", "4", "--profile", "linked", drift="created200,nopersist", extra=LINKED
    )
    assert code == 1
    assert any(f["phase"] == "stateful" for f in results["findings"]), results["findings"]
