"""Depth on a contract with no links and no examples: an overlay and pools get it back.

The fixture pair's contract is stripped of its links and examples, as a user's contract
often is. Without help every sequence ends at its first step; with an OpenAPI Overlay in
parity.toml (the contract untouched) sequences go three steps and more, and the rows phase
reaches the success path of every operation that takes an id.
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
