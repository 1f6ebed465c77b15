"""Pairwise covering arrays over optional query parameters: every pair of (parameter,
value), absent included, meets in some row, in far fewer rows than the product."""

from __future__ import annotations

from harness.cases.combos import ABSENT, covered_pairs, pairwise, query_dimensions

PARAMS = [
    {"name": "severity", "in": "query", "schema": {"enum": ["info", "warning", "critical"]}},
    {"name": "status", "in": "query", "schema": {"$ref": "#/components/schemas/S"}},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
    {"name": "q", "in": "query", "schema": {"type": "string"}},
    {"name": "need", "in": "query", "required": True, "schema": {"enum": ["x"]}},
]
ROOT = {"components": {"schemas": {"S": {"enum": ["active", "acknowledged", "resolved"]}}}}


def test_dimensions_take_enums_bounds_and_values_from_the_data() -> None:
    dims = dict(query_dimensions(PARAMS, ROOT, lambda name: ["phish"] if name == "q" else []))
    assert dims["severity"] == [ABSENT, "info", "warning", "critical"]
    assert dims["status"] == [ABSENT, "active", "acknowledged", "resolved"]
    assert dims["limit"] == [ABSENT, 1, 2, 100]
    assert dims["q"] == [ABSENT, "phish"]
    assert "need" not in dims  # a required parameter is the base case's


def test_every_pair_is_covered_in_fewer_rows_than_the_product() -> None:
    dims = query_dimensions(PARAMS, ROOT, lambda name: ["phish"] if name == "q" else [])
    rows = pairwise(dims, budget=100)
    covered, total = covered_pairs(dims, rows)
    assert covered == total
    assert len(rows) < 4 * 4 * 4 * 2
    # each severity meets each status
    seen = {(r[0], r[1]) for r in rows}
    assert {("critical", "resolved"), ("info", ABSENT), (ABSENT, "active")} <= seen
    assert len(pairwise(dims, budget=5)) == 5
    assert pairwise(dims[:1], budget=5) == []
