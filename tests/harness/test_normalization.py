from __future__ import annotations

import pytest

from harness.compare.normalization import RuleSet, generalize, path_regex, shape
from harness.setup.config import NormalizeRule


def rules(*specs: dict[str, object], op: str = "GET /api/cases") -> RuleSet:
    return RuleSet([NormalizeRule.model_validate(s) for s in specs], op)


@pytest.mark.parametrize(
    ("pattern", "path", "hit"),
    [
        ("$.data[*].createdAt", "$.data[3].createdAt", True),
        ("$.data[*].createdAt", "$.data[3].updatedAt", False),
        ("$..createdAt", "$.data[0].meta.createdAt", True),
        ("$..createdAt", "$.createdAt", True),
        ("$..*At", "$.a[1].resolvedAt", True),
        ("$.*", "$.x", True),
        ("$.*", "$.x.y", False),
        ("$.token", "$.tokens", False),
    ],
)
def test_path_patterns(pattern: str, path: str, hit: bool) -> None:
    assert bool(path_regex(pattern).match(path)) is hit


def test_generalize_and_shape() -> None:
    assert generalize("$.data[12].tags[0]") == "$.data[*].tags[*]"
    assert shape("2026-01-01T00:00:00.000Z") == "0000-00-00T00:00:00.000Z"
    assert shape("2026-01-01T00:00:00.000Z") != shape("2026-01-01T00:00:00+00:00")


def test_ignore_removes_the_field_everywhere_it_matches() -> None:
    rs = rules({"location": "body:$..token", "action": "ignore"})
    body = {"token": "abc", "user": {"token": "x", "id": 1}, "list": [{"token": 1}]}
    assert rs.normalize_body(body) == {"user": {"id": 1}, "list": [{}]}


def test_rules_apply_only_to_their_operation() -> None:
    rs = rules({"operation": "POST /api/*", "location": "body:$.id", "action": "ignore"})
    assert rs.normalize_body({"id": 1}) == {"id": 1}
    rs = rules({"operation": "GET /api/*", "location": "body:$.id", "action": "ignore"})
    assert rs.normalize_body({"id": 1}) == {}


def test_mask_keeps_format_differences_visible() -> None:
    iso_ms = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    rs = rules(
        {"location": "body:$.time", "action": "mask", "pattern": iso_ms, "replacement": "<time>"}
    )
    assert rs.normalize_body({"time": "2026-01-01T00:00:00.000Z"}) == {"time": "<time>"}
    # another format does not match the pattern, so it stays as it is and will differ
    assert rs.normalize_body({"time": "2026-01-01T00:00:00+00:00"}) == {
        "time": "2026-01-01T00:00:00+00:00"
    }


def test_mask_to_shape() -> None:
    rs = rules({"location": "body:$.t", "action": "mask", "replacement": "{shape}"})
    a = rs.normalize_body({"t": "2026-05-01T10:20:30.123Z"})
    b = rs.normalize_body({"t": "2027-01-09T11:00:00.999Z"})
    c = rs.normalize_body({"t": "2027-01-09T11:00:00+00:00"})
    assert a == b
    assert a != c


def test_unordered_by_key_and_whole_item() -> None:
    rs = rules({"location": "body:$.data", "action": "unordered", "key": "id"})
    assert rs.normalize_body({"data": [{"id": 2}, {"id": 1}]}) == {"data": [{"id": 1}, {"id": 2}]}
    rs = rules({"location": "body:$.tags", "action": "unordered"})
    assert rs.normalize_body({"tags": ["b", "a"]}) == rs.normalize_body({"tags": ["a", "b"]})


def test_id_map_makes_ids_relative_per_response() -> None:
    rs = rules({"location": "body:$..id", "action": "id_map"})
    legacy = rs.normalize_body({"data": [{"id": 301}, {"id": 302}], "first": {"id": 301}})
    candidate = rs.normalize_body({"data": [{"id": 9}, {"id": 12}], "first": {"id": 9}})
    assert legacy == candidate
    swapped = rs.normalize_body({"data": [{"id": 9}, {"id": 12}], "first": {"id": 12}})
    assert legacy != swapped


def test_db_rules_by_table_and_column_glob() -> None:
    rs = rules(
        {"location": "db:sessions.token", "action": "ignore"},
        {"location": "db:*.secret", "action": "mask", "replacement": "<s>"},
    )
    assert rs.normalize_row("sessions", {"id": 1, "token": "t"}) == {"id": 1}
    assert rs.normalize_row("users", {"secret": "x", "token": "t"}) == {
        "secret": "<s>",
        "token": "t",
    }
