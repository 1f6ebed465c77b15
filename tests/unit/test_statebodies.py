"""Row states x write bodies: each body field's interesting values from its schema and the
fixtures, and a covering array that meets every (state, field value) pair in few cases."""

from __future__ import annotations

from typing import Any

from harness.cases.combos import ABSENT, covered_pairs
from harness.cases.statebodies import KEEP, RowState, body_dimensions, body_for, state_body_rows

ROOT: dict[str, Any] = {
    "components": {"schemas": {"Status": {"type": "string", "enum": ["open", "closed"]}}}
}
SCHEMA = {
    "type": "object",
    "required": ["title"],
    "properties": {
        "title": {"type": "string", "minLength": 1, "maxLength": 5},
        "status": {"$ref": "#/components/schemas/Status"},
        "assigneeId": {"type": "integer", "minimum": 1, "nullable": True},
        "note": {"type": "string"},
        "done": {"type": "boolean"},
        "id": {"type": "integer", "readOnly": True},
    },
}


def test_each_field_gets_enum_values_null_absent_bounds_and_fixture_values() -> None:
    dims = dict(body_dimensions(SCHEMA, ROOT, lambda name: [7, 8] if name == "assigneeId" else []))
    assert dims["title"] == ["a", "zzzzz"]  # required: never absent
    assert dims["status"] == [ABSENT, "open", "closed"]
    assert dims["assigneeId"] == [ABSENT, 1, 7, 8, None]
    assert dims["note"] == [ABSENT, KEEP]  # nothing to vary but its absence
    assert dims["done"] == [ABSENT, True, False]
    assert "id" not in dims  # read-only: not the caller's to send


def test_every_state_meets_every_field_value_in_fewer_cases_than_the_product() -> None:
    dims = body_dimensions(SCHEMA, ROOT)
    states = [RowState("admin", n, s) for n, s in enumerate(["open", "closed", "assigned"])]
    every, rows = state_body_rows(states, dims, budget=100)
    covered, total = covered_pairs(every, rows)
    assert covered == total
    product = 1
    for _, values in every:
        product *= len(values)
    assert len(rows) < product / 4
    closed = [r for r in rows if r[0].state == "closed"]
    assert {r[2] for r in closed} >= {ABSENT, "open", "closed"}  # status meets the closed row
    _, few = state_body_rows(states, dims, budget=5)
    assert len(few) == 5


def test_a_body_is_the_base_with_each_field_set_left_out_or_kept() -> None:
    dims = [("status", [ABSENT, "open"]), ("note", [ABSENT, KEEP]), ("n", [None, 1])]
    base = {"status": "closed", "note": "x", "title": "t"}
    assert body_for(base, dims, ["open", KEEP, None]) == {
        "status": "open",
        "note": "x",
        "title": "t",
        "n": None,
    }
    assert body_for(base, dims, [ABSENT, ABSENT, 1]) == {"title": "t", "n": 1}
