"""Depth on a contract with no links and no examples: an overlay, pools and fixtures get it
back.

The fixture pair's contract is stripped of its links and examples, as a user's contract
often is. Without help every sequence ends at its first step; with an OpenAPI Overlay in
parity.toml (the contract untouched) sequences go three steps and more, and the rows phase
reaches the success path of every operation that takes an id. One operation
(``PUT /items/{id}/owner``) succeeds only for a body field naming a real user, which no
generated string does: a ``[fixtures]`` entry reaches it, and a drift only it shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.conftest import RunPair, make_config

pytestmark = [pytest.mark.e2e]

SEQ = (
    "\n[profiles.depth]\nstateless = false\nrequire_proof = false\n"
    "stateful_sequences = 30\nmax_steps = 5\ninvariants = false\n"
)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if k not in ("links", "example", "examples")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


@pytest.fixture
def bare(pair_dir: Path) -> Path:
    contract = pair_dir / "openapi.yaml"
    contract.write_text(yaml.safe_dump(_strip(yaml.safe_load(contract.read_text()))))
    assert "links" not in contract.read_text()
    return pair_dir


OWNER_OP = {
    "parameters": [
        {
            "name": "id",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1, "maximum": 25},
        }
    ],
    "put": {
        "operationId": "setOwner",
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "required": ["owner"],
                        "properties": {
                            "owner": {"type": "string", "minLength": 1, "maxLength": 20}
                        },
                    }
                }
            },
        },
        "responses": {
            "200": {"description": "owner set"},
            "400": {"description": "invalid, or not a user"},
            "401": {"description": "unauthorized"},
            "404": {"description": "missing"},
        },
    },
}
FIXTURES = '\n[fixtures.owner]\nsql = "SELECT username FROM users ORDER BY id"\n'
DEEP = (
    "\n[profiles.deep]\npositive = 8\nnegative = 4\ninvariants = false\n"
    "stateful_sequences = 12\nmax_steps = 5\nshrink_budget = 10\n"
)
ID_TAKING = (
    "GET /items/{id}",
    "PATCH /items/{id}",
    "DELETE /items/{id}",
    "GET /items/{id}/reviews",
    "POST /items/{id}/reviews",
    "PUT /items/{id}/owner",
)


@pytest.fixture
def owned(bare: Path) -> Path:
    """The bare contract plus an operation whose success needs a real user's name."""
    contract = bare / "openapi.yaml"
    doc = yaml.safe_load(contract.read_text())
    doc["paths"]["/items/{id}/owner"] = OWNER_OP
    contract.write_text(yaml.safe_dump(doc))
    return bare


def _with_overlay(config: Path) -> Path:
    config.write_text('overlays = ["links.overlay.yaml"]\n' + config.read_text())
    return config


def test_without_links_every_sequence_stops_and_the_run_says_so(
    run_pair: RunPair, bare: Path
) -> None:
    code, results = run_pair(
        "--seed", "3", "--profile", "depth", config=make_config(bare, extra=SEQ)
    )
    assert code == 0
    assert any("no followable links" in n for n in results["stats"]["notes"])
    assert results["stats"]["stateful"]["sequences"] == 0


def test_an_overlay_gives_sequences_of_three_steps_and_more(run_pair: RunPair, bare: Path) -> None:
    config = _with_overlay(make_config(bare, extra=SEQ))
    code, results = run_pair("--seed", "3", "--profile", "depth", config=config)
    assert code == 0, results.get("errors")
    stateful = results["stats"]["stateful"]
    assert stateful["depth"] >= 3, stateful
    assert stateful["started"] > 0


def test_an_overlay_with_a_target_that_selects_nothing_is_an_error(
    run_pair: RunPair, bare: Path
) -> None:
    bad = bare / "links.overlay.yaml"
    bad.write_text(bad.read_text().replace("/items/{id}/reviews", "/nowhere"))
    config = _with_overlay(make_config(bare, extra=SEQ))
    code, _ = run_pair("--profile", "depth", config=config, leftovers=False)
    assert code == 2


def test_row_pools_reach_the_success_path_of_every_id_taking_operation(
    run_pair: RunPair, bare: Path
) -> None:
    code, results = run_pair("--seed", "3", config=make_config(bare))
    assert code == 0, json.dumps(results.get("unproven"))
    by_id = {op["id"]: op for op in results["operations"]}
    for op_id in (
        "GET /items/{id}",
        "PATCH /items/{id}",
        "DELETE /items/{id}",
        "GET /items/{id}/reviews",
        "POST /items/{id}/reviews",
    ):
        op = by_id[op_id]
        assert op["proven"], (op_id, op["status_codes"])
        assert op["row_states"], op_id


def test_an_overlay_and_fixtures_reach_every_success_path_and_go_three_steps_deep(
    run_pair: RunPair, owned: Path
) -> None:
    config = _with_overlay(make_config(owned, extra=FIXTURES + DEEP))
    code, results = run_pair("--seed", "3", "--profile", "deep", config=config)
    assert code == 0, (results.get("unproven"), results.get("errors"))
    assert results["stats"]["stateful"]["depth"] >= 3, results["stats"]["stateful"]
    by_id = {op["id"]: op for op in results["operations"]}
    for op_id in ID_TAKING:
        op = by_id[op_id]
        assert op["proven"], (op_id, op["status_codes"])
        assert op["row_states"], op_id
        success = next(r for r in op["responses"] if r["status"].startswith("2"))
        assert "rows" in success["phases"], (op_id, success)
    owner = {r["status"]: r for r in by_id["PUT /items/{id}/owner"]["responses"]}
    # a real user in the body: generated cases with the fixture and existing rows both
    assert {"stateless", "rows"} <= set(owner["200"]["phases"]), owner["200"]
    assert owner["400"]["both"] > 0  # generated owners are not users


def test_a_drift_only_a_real_user_shows_is_caught_with_fixtures_and_not_without(
    run_pair: RunPair, owned: Path
) -> None:
    only = ("--seed", "3", "--operation", "PUT /items/{id}/owner")
    code, results = run_pair(*only, config=make_config(owned, drift="owner"))
    assert code == 2, results.get("findings")  # nothing reached the success path
    assert not results["findings"]
    assert [u["operation"] for u in results["unproven"]] == ["PUT /items/{id}/owner"]

    code, results = run_pair(*only, config=make_config(owned, drift="owner", extra=FIXTURES))
    assert code == 1
    locations = {(f["operation"], f["location"]) for f in results["findings"]}
    assert ("PUT /items/{id}/owner", "body:$.owner") in locations
