"""Findings that name their cause (issue 28): a renamed table is compared and reported once,
a declared one ([[db.map]]) stays quiet; two times are a ``time`` difference with the shift,
and what was a ``value`` before keeps its accept rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from harness.compare.comparison import compare_bodies, compare_exchange, compare_writes, time_shift
from harness.compare.findings import Findings
from harness.compare.normalization import RuleSet
from harness.compare.tables import map_tables, pair_tables
from harness.models import Response, TableWrites
from harness.setup.config import AcceptRule, CompareConfig, TableMap

ROW = {"rowid": 4, "id": 4, "title": "a", "owner": "admin", "created_at": "2026-01-01T00:00:00Z"}
NONE = RuleSet([], "POST /notes")


def _kinds(diffs: list[Any]) -> set[tuple[str, str]]:
    return {(d.location, d.kind) for d in diffs}


def test_an_undeclared_rename_is_one_db_table_difference_and_its_rows_are_compared() -> None:
    legacy = {"notes": TableWrites(inserted=[ROW])}
    candidate = {"note": TableWrites(inserted=[{**ROW, "title": "b"}])}
    found = compare_writes(legacy, candidate, NONE)
    assert _kinds(found) == {("db:notes", "db_table"), ("db:notes.title", "db_insert")}
    table = next(d for d in found if d.kind == "db_table")
    assert "'note'" in table.summary
    assert "[[db.map]]" in table.summary
    # alike rows under another name: only the rename shows
    assert _kinds(compare_writes(legacy, {"note": TableWrites(inserted=[ROW])}, NONE)) == {
        ("db:notes", "db_table")
    }


def test_the_same_table_on_both_sides_stays_quiet() -> None:
    writes = {"notes": TableWrites(inserted=[ROW])}
    assert compare_writes(writes, {"notes": TableWrites(inserted=[ROW])}, NONE) == []


def test_tables_with_other_columns_are_not_paired() -> None:
    """Two unrelated tables each side wrote alone stay two drifts (gone and new)."""
    legacy = {"notes": TableWrites(inserted=[ROW])}
    candidate = {"audit": TableWrites(inserted=[{"rowid": 1, "at": "x", "actor": "admin"}])}
    assert _kinds(compare_writes(legacy, candidate, NONE)) == {
        ("db:notes", "db_insert"),
        ("db:audit", "db_insert"),
    }
    assert pair_tables(legacy, candidate) == (candidate, [])


def test_a_declared_rename_with_a_renamed_column_is_compared_quietly() -> None:
    maps = [TableMap(legacy="notes", candidate="note", columns={"title": "name"})]
    moved = {**ROW, "name": ROW["title"]}
    del moved["title"]
    mapped = map_tables({"note": TableWrites(inserted=[moved])}, maps)
    assert mapped is not None
    assert compare_writes({"notes": TableWrites(inserted=[ROW])}, mapped, NONE) == []
    drifted = map_tables({"note": TableWrites(inserted=[{**moved, "name": "b"}])}, maps)
    assert drifted is not None
    assert _kinds(compare_writes({"notes": TableWrites(inserted=[ROW])}, drifted, NONE)) == {
        ("db:notes.title", "db_insert")
    }


def test_a_rename_shows_even_behind_a_status_difference() -> None:
    ok, created = Response(200, (), {}, "", 1.0), Response(201, (), {}, "", 1.0)
    legacy, candidate = {"notes": TableWrites(inserted=[ROW])}, {"note": TableWrites([ROW])}
    found = compare_exchange(created, ok, legacy, candidate, NONE, CompareConfig())
    assert _kinds(found) == {("status:201 vs 200", "status"), ("db:notes", "db_table")}


def test_two_times_are_a_time_difference_with_the_shift() -> None:
    rules = RuleSet([], "GET /x")
    found = compare_bodies(
        {"at": "2026-01-01T00:00:00.000Z"}, {"at": "2026-01-01T00:00:42.000Z"}, rules
    )
    assert _kinds(found) == {("body:$.at", "time")}
    assert "+42 s" in found[0].summary
    assert time_shift("2026-01-01T02:00:00Z", "2026-01-01T00:00:00Z") == "-2 h"
    # the same moment written two ways is a format, equal times are nothing
    same = compare_bodies({"at": "2026-01-01T00:00:00.000Z"}, {"at": "2026-01-01T00:00:00Z"}, rules)
    assert _kinds(same) == {("body:$.at", "format")}
    assert (
        compare_bodies({"at": "2026-01-01T00:00:00Z"}, {"at": "2026-01-01T00:00:00Z"}, rules) == []
    )
    # not times: still a value
    assert _kinds(compare_bodies({"a": "x"}, {"a": "y"}, rules)) == {("body:$.a", "value")}


def test_a_time_row_difference_says_its_shift() -> None:
    later = {**ROW, "created_at": "2026-01-01T00:00:42Z"}
    found = compare_writes(
        {"notes": TableWrites(inserted=[ROW])}, {"notes": TableWrites(inserted=[later])}, NONE
    )
    assert _kinds(found) == {("db:notes.created_at", "db_insert")}
    assert "(time +42 s)" in found[0].summary


def test_an_accept_rule_written_for_value_still_covers_a_time_difference() -> None:
    rule = AcceptRule(
        operation="GET /x",
        location="body:$.at",
        kind="value",
        reason="the port stamps later",
        expires=dt.date(2999, 1, 1),
    )
    findings = Findings(accept=[rule])
    assert findings.rule_for("GET /x", "body:$.at", "time") is rule
    assert findings.rule_for("GET /x", "body:$.at", "format") is None


def _listing(limit: int, legacy: list[Any], candidate: list[Any]) -> Any:
    from harness.compare.comparison import compare_bodies as cmp
    from harness.models import ExchangeResult, PreparedRequest

    req = PreparedRequest(
        "GET /notes", "GET", "/notes", (("limit", str(limit)),), (), None, None, None, None,
        "positive",
    )  # fmt: skip
    lb, cb = {"items": legacy}, {"items": candidate}
    diffs = cmp(lb, cb, RuleSet([], "GET /notes"))
    ok = Response(200, (), lb, "", 1.0)
    return ExchangeResult(req, ok, Response(200, (), cb, "", 1.0), None, None, diffs)


def _note(i: int, title: str | None = None) -> dict[str, Any]:
    return {"id": i, "title": title or f"n{i}", "body": ""}


def test_short_pages_drawn_by_another_order_join_the_ordering_finding() -> None:
    """limit=3 shows the order (id asc vs desc); limit=1 shows only another item, whose
    fields differ: the same cause, one finding led by the ordering."""
    notes = [_note(1), _note(2), _note(3)]
    findings = Findings(accept=[])
    findings.record(_listing(3, notes, notes[::-1]))
    findings.record(_listing(1, notes[:1], notes[2:]))
    merged = findings.together()
    assert len(merged) == 1, [[(g.location, g.kind) for g in m] for m in merged]
    assert (merged[0][0].location, merged[0][0].kind) == ("body:$.items", "ordering")
    assert {g.location for g in merged[0][1:]} == {"body:$.items[*].id", "body:$.items[*].title"}


def test_a_changed_field_of_the_same_items_stays_a_finding_of_its_own() -> None:
    notes = [_note(1), _note(2), _note(3)]
    findings = Findings(accept=[])
    findings.record(_listing(3, notes, notes[::-1]))
    findings.record(_listing(1, notes[:1], [_note(1, "renamed")]))
    merged = findings.together()
    assert sorted((m[0].location, m[0].kind) for m in merged) == [
        ("body:$.items", "ordering"),
        ("body:$.items[*].title", "value"),
    ]
