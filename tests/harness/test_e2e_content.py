"""Content coverage on a run: a list whose answers were all empty on both sides is reported
as not really tested (``stats.content``, ``lists_hollow``, a warning), though both sides
agreed; the same list over rows is compared item by item and is not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.harness.conftest import RunPair, make_config

PROFILE = """
[profiles.content]
positive = 12
negative = 0
invariants = false
probes = false
growth_rows = 0
require_proof = false
"""


# the fixture's contract leaves GET /items's body undocumented: a list is known from the
# contract (never from one answer), so the test documents it as a user would, in an overlay
OVERLAY = """overlay: 1.0.0
info: {title: the items list documented, version: 1.0.0}
actions:
  - target: "$.paths['/items'].get.responses['200']"
    update:
      content:
        application/json:
          schema:
            type: object
            properties:
              items: {type: array, items: {type: object}}
              total: {type: integer}
"""


def _config(pair_dir: Path, items: int) -> Path:
    config = make_config(pair_dir, extra=PROFILE)
    overlay = pair_dir / "items-documented.overlay.yaml"
    overlay.write_text(OVERLAY)
    seeded = '"seed.py", "--seed", "{seed}"'
    text = config.read_text()
    assert seeded in text
    text = text.replace(seeded, f'"seed.py", "--seed", "{{seed}}", "--items", "{items}"')
    head = 'contract = "openapi.yaml"\n'
    assert head in text
    text = text.replace(head, head + f'overlays = ["{overlay}"]\n', 1)
    path = pair_dir / f"parity-content-{items}.toml"
    path.write_text(text)
    return path


def _content(results: dict[str, Any]) -> dict[str, Any]:
    (listed,) = [o for o in results["operations"] if o["id"] == "GET /items"]
    assert listed["content"] is not None, listed
    return dict(listed["content"])


def test_a_list_empty_on_both_sides_is_hollow_and_said(pair_dir: Path, run_pair: RunPair) -> None:
    code, results = run_pair(
        "--profile", "content", "--operation", "GET /items", config=_config(pair_dir, 0)
    )
    assert code == 0, results.get("errors")  # both sides agree: nothing to report as drift
    content = _content(results)
    assert content["successes"] > 0
    assert content["with_items"] == 0
    assert content["hollow"] is True
    assert "GET /items" in results["coverage"]["lists_hollow"]
    assert any("GET /items" in w for w in results["warnings"]), results["warnings"]


def test_the_same_list_over_rows_is_compared(pair_dir: Path, run_pair: RunPair) -> None:
    code, results = run_pair(
        "--profile", "content", "--operation", "GET /items", config=_config(pair_dir, 20)
    )
    assert code == 0, results.get("errors")
    content = _content(results)
    assert content["hollow"] is False
    assert content["compared"] > 0
    assert "GET /items" not in results["coverage"]["lists_hollow"]
