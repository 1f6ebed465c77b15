from __future__ import annotations

from typing import Any

from harness.compare.comparison import compare_bodies, compare_exchange, compare_writes
from harness.compare.normalization import JsonText, RuleSet
from harness.models import Response, TableWrites
from harness.setup.config import CompareConfig, NormalizeRule


def rs(*specs: dict[str, Any]) -> RuleSet:
    return RuleSet([NormalizeRule.model_validate(s) for s in specs], "GET /x")


def kinds(a: Any, b: Any, rules: RuleSet | None = None) -> set[tuple[str, str]]:
    return {(d.location, d.kind) for d in compare_bodies(a, b, rules or rs())}


def resp(status: int = 200, body: Any = None, **headers: str) -> Response:
    hdrs = tuple((k.replace("_", "-"), v) for k, v in headers.items())
    return Response(status, hdrs, body, "", 1.0)


def test_equal_bodies_have_no_differences() -> None:
    assert kinds({"a": [1, {"b": None}]}, {"a": [1, {"b": None}]}) == set()
    # key order does not matter in JSON objects
    assert kinds({"a": 1, "b": 2}, {"b": 2, "a": 1}) == set()


def test_value_missing_extra_type() -> None:
    assert kinds({"a": 1, "b": 2}, {"a": 1, "b": 3}) == {("body:$.b", "value")}
    assert kinds({"a": 1, "b": 2}, {"a": 1}) == {("body:$.b", "missing")}
    assert kinds({"a": 1}, {"a": 1, "c": 0}) == {("body:$.c", "extra")}
    assert kinds({"a": "1"}, {"a": 1}) == {("body:$.a", "type")}
    assert kinds({"a": None}, {"a": 0}) == {("body:$.a", "type")}


def test_metadata_omitted_versus_null_is_missing() -> None:
    assert kinds({"id": 1}, {"id": 1, "metadata": None}) == {("body:$.metadata", "extra")}


def test_int_versus_float_and_bool_versus_int_are_drift() -> None:
    assert kinds({"a": 1}, {"a": 1.0}) == {("body:$.a", "format")}
    assert kinds({"a": True}, {"a": 1}) == {("body:$.a", "type")}


def test_numbers_as_text_are_format_only_when_they_are_the_same_number() -> None:
    assert kinds({"p": "10.50"}, {"p": "10.5"}) == {("body:$.p", "format")}
    assert kinds({"p": "1e3"}, {"p": "1000"}) == {("body:$.p", "format")}
    # two random hex ids that happen to read as numbers: the id's usual noise, a value
    # difference; as "format" it escaped A/A suppression keyed on (location, kind)
    assert kinds({"id": "12345678"}, {"id": "1e345678"}) == {("body:$.id", "value")}
    assert kinds({"id": "00001234"}, {"id": "98765e01"}) == {("body:$.id", "value")}


def test_date_format_difference_is_format_kind() -> None:
    assert kinds({"t": "2026-01-01T00:00:00.000Z"}, {"t": "2026-01-01T00:00:00+00:00"}) == {
        ("body:$.t", "format")
    }
    # two moments: a time finding with the candidate's shift (issue 28)
    assert kinds({"t": "2026-01-01T00:00:00.000Z"}, {"t": "2026-01-02T00:00:00.000Z"}) == {
        ("body:$.t", "time")
    }


def test_time_tolerance_accepts_clock_skew_but_not_a_format_change() -> None:
    rules = rs({"location": "body:$..createdAt", "action": "tolerance", "ms": 1000})
    a = {"x": {"createdAt": "2026-01-01T00:00:00.000Z"}}
    assert kinds(a, {"x": {"createdAt": "2026-01-01T00:00:00.400Z"}}, rules) == set()
    assert kinds(a, {"x": {"createdAt": "2026-01-01T00:00:05.000Z"}}, rules) == {
        ("body:$.x.createdAt", "time")
    }
    assert kinds(a, {"x": {"createdAt": "2026-01-01T00:00:00+00:00"}}, rules) == {
        ("body:$.x.createdAt", "format")
    }


def test_number_tolerance() -> None:
    rules = rs({"location": "body:$.score", "action": "tolerance", "abs": 0.01})
    assert kinds({"score": 1.0}, {"score": 1.005}, rules) == set()
    assert kinds({"score": 1.0}, {"score": 1.5}, rules) == {("body:$.score", "value")}


def test_reordered_array_is_one_ordering_difference() -> None:
    a = {"data": [{"id": 1, "t": "x"}, {"id": 2, "t": "y"}, {"id": 3, "t": "z"}]}
    b = {"data": [{"id": 3, "t": "z"}, {"id": 2, "t": "y"}, {"id": 1, "t": "x"}]}
    assert kinds(a, b) == {("body:$.data", "ordering")}
    # a real change inside the array is not hidden behind ordering
    c = {"data": [{"id": 1, "t": "x"}, {"id": 2, "t": "Y"}, {"id": 3, "t": "z"}]}
    assert kinds(a, c) == {("body:$.data[*].t", "value")}


def test_sparse_dicts_are_diffed_deeply() -> None:
    # DeepDiff would call the whole object changed without threshold_to_diff_deeper=0
    a = {"obj": {"k1": 1}}
    b = {"obj": {"k2": 1}}
    assert kinds(a, b) == {("body:$.obj.k1", "missing"), ("body:$.obj.k2", "extra")}


def test_status_mismatch_is_reported_alone() -> None:
    diffs = compare_exchange(
        resp(404, {"e": 1}), resp(410, {"e": 2}), None, None, rs(), CompareConfig()
    )
    assert [d.kind for d in diffs] == ["status"]
    assert diffs[0].location.startswith("status:")  # keyed by the pair of statuses


def test_headers_compared_as_configured() -> None:
    cfg = CompareConfig(headers=["content-type", "location", "set-cookie"])
    a = resp(201, {}, content_type="application/json", location="/items/1")
    b = resp(201, {}, content_type="application/json", location="/item/1")
    assert [(d.location, d.kind) for d in compare_exchange(a, b, None, None, rs(), cfg)] == [
        ("header:location", "header")
    ]
    c = resp(201, {}, content_type="application/json; charset=utf-8", location="/items/1")
    assert [d.location for d in compare_exchange(a, c, None, None, rs(), cfg)] == [
        "header:content-type"
    ]


def test_set_cookie_compared_by_name_and_attributes_not_token() -> None:
    cfg = CompareConfig(headers=["set-cookie"])
    a = resp(200, {}, set_cookie="session=abc; Path=/; Expires=Wed, 01 Jan 2027; HttpOnly")
    b = resp(200, {}, set_cookie="session=zzz; Path=/; Expires=Thu, 02 Jan 2027; HttpOnly")
    assert compare_exchange(a, b, None, None, rs(), cfg) == []
    c = resp(200, {}, set_cookie="session=zzz; Path=/; Expires=Thu, 02 Jan 2027")
    assert [d.kind for d in compare_exchange(a, c, None, None, rs(), cfg)] == ["header"]
    d = resp(200, {}, set_cookie="session=zzz; Path=/api; Expires=Thu, 02 Jan 2027; HttpOnly")
    assert [d.kind for d in compare_exchange(a, d, None, None, rs(), cfg)] == ["header"]


def test_database_writes_compared_row_by_row() -> None:
    row = {"rowid": 5, "kind": "case.created", "payload": JsonText('{"a":1}', {"a": 1}, "compact")}
    same = compare_writes(
        {"events": TableWrites(inserted=[row])}, {"events": TableWrites(inserted=[dict(row)])}, rs()
    )
    assert same == []
    other = {**row, "kind": "case.create"}
    diffs = compare_writes(
        {"events": TableWrites(inserted=[row])}, {"events": TableWrites(inserted=[other])}, rs()
    )
    assert [(d.location, d.kind) for d in diffs] == [("db:events.kind", "db_insert")]
    spaced = {**row, "payload": JsonText('{"a": 1}', {"a": 1}, "other")}
    diffs = compare_writes(
        {"events": TableWrites(inserted=[row])}, {"events": TableWrites(inserted=[spaced])}, rs()
    )
    assert [(d.location, d.kind) for d in diffs] == [("db:events.payload", "db_insert")]
    assert "written differently" in diffs[0].summary
    missing = compare_writes({"events": TableWrites(inserted=[row])}, {}, rs())
    assert [(d.location, d.kind) for d in missing] == [("db:events", "db_insert")]
    deleted = compare_writes({"cases": TableWrites(deleted=[{"rowid": 1}])}, {}, rs())
    assert [d.kind for d in deleted] == ["db_delete"]


def counter_moved(table: str, before: int, after: int) -> TableWrites:
    """sqlite_sequence writes: ``table``'s AUTOINCREMENT counter went from before to after."""
    row = {"rowid": table, "changed": ["seq"]}
    row |= {"before": {"name": table, "seq": before}, "after": {"name": table, "seq": after}}
    return TableWrites(updated=[row])


def test_autoincrement_counter_of_a_recounted_table_is_not_a_second_finding() -> None:
    event = {"rowid": 9, "kind": "case.created"}
    bumped = counter_moved("events", 8, 9)
    # the candidate forgot the events row: one finding, not a second one on its counter
    diffs = compare_writes(
        {"events": TableWrites(inserted=[event]), "sqlite_sequence": bumped}, {}, rs()
    )
    assert [(d.location, d.kind) for d in diffs] == [("db:events", "db_insert")]
    # a first row ever inserts the counter row; same rule
    first = TableWrites(inserted=[{"name": "events", "seq": 1}])
    diffs = compare_writes(
        {}, {"events": TableWrites(inserted=[event]), "sqlite_sequence": first}, rs()
    )
    assert [(d.location, d.kind) for d in diffs] == [("db:events", "db_insert")]
    # same rows inserted, counters apart (explicit ids, or a row inserted then deleted): kept
    jumped = counter_moved("events", 8, 12)
    diffs = compare_writes(
        {"events": TableWrites(inserted=[event]), "sqlite_sequence": bumped},
        {"events": TableWrites(inserted=[dict(event)]), "sqlite_sequence": jumped},
        rs(),
    )
    assert [(d.location, d.kind) for d in diffs] == [("db:sqlite_sequence.seq", "db_update")]
    # another table's counter is untouched by the events recount
    cases = counter_moved("cases", 1, 2)
    diffs = compare_writes(
        {"events": TableWrites(inserted=[event]), "sqlite_sequence": cases}, {}, rs()
    )
    assert sorted(d.location for d in diffs) == ["db:events", "db:sqlite_sequence"]


def test_array_that_grew_is_one_difference_not_a_cascade() -> None:
    a = {"issues": [{"path": "id", "code": "invalid_type"}, {"path": "q", "code": "x"}]}
    b = {
        "issues": [
            {"path": "id", "code": "invalid_type"},
            {"path": "id", "code": "too_small"},
            {"path": "q", "code": "x"},
        ]
    }
    diffs = compare_bodies(a, b, rs())
    assert [(d.location, d.kind) for d in diffs] == [("body:$.issues", "extra")]
    assert "too_small" in diffs[0].summary
    assert [(d.location, d.kind) for d in compare_bodies(b, a, rs())] == [
        ("body:$.issues", "missing")
    ]


def test_a_column_changed_on_one_side_only_is_drift_even_when_masked() -> None:
    """A mask on updated_at hides its value, not whether the update bumped it."""
    rules = RuleSet(
        [
            NormalizeRule.model_validate(
                {"location": "db:cases.updated_at", "action": "mask", "pattern": ".*"}
            )
        ],
        "PATCH /x",
    )

    def update(before: str, after: str) -> dict[str, TableWrites]:
        row = {"id": 1, "title": "t2", "updated_at": after}
        was = {"id": 1, "title": "t1", "updated_at": before}
        return {"cases": TableWrites(updated=[{"rowid": 1, "before": was, "after": row}])}

    bumped = update("2026-01-01T00:00:00.000Z", "2026-12-02T10:00:00.000Z")
    also_bumped = update("2026-01-01T00:00:00.000Z", "2026-12-02T10:00:01.123Z")
    not_bumped = update("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:00.000Z")
    assert compare_writes(bumped, also_bumped, rules) == []
    diffs = compare_writes(bumped, not_bumped, rules)
    assert [(d.location, d.kind) for d in diffs] == [("db:cases.updated_at", "db_update")]
    assert "legacy changed it" in diffs[0].summary


def test_a_status_rule_makes_two_statuses_equal_and_the_bodies_are_still_compared() -> None:
    config = CompareConfig(headers=[])
    plain = compare_exchange(resp(200, {"id": 1}), resp(201, {"id": 2}), None, None, rs(), config)
    assert [d.kind for d in plain] == ["status"]
    mapped = rs({"location": "status", "action": "status", "legacy": "200", "candidate": "201"})
    diffs = compare_exchange(resp(200, {"id": 1}), resp(201, {"id": 2}), None, None, mapped, config)
    assert [(d.location, d.kind) for d in diffs] == [("body:$.id", "value")]
    # the rule maps 200 to 201 only: a 500 is still a status difference
    other = compare_exchange(resp(200, {}), resp(500, {}), None, None, mapped, config)
    assert [d.location for d in other] == ["status:200 vs 500"]
    classes = rs({"location": "status", "action": "status", "legacy": "401", "candidate": "4xx"})
    assert compare_exchange(resp(401, {}), resp(403, {}), None, None, classes, config) == []


def test_a_status_rule_is_checked_on_load() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        NormalizeRule.model_validate({"location": "status", "action": "status", "legacy": "200"})
    with pytest.raises(ValidationError):
        NormalizeRule.model_validate(
            {"location": "status", "action": "status", "legacy": "ok", "candidate": "201"}
        )


def test_csv_bodies_are_compared_as_rows_and_columns() -> None:
    def csv_resp(text: str) -> Response:
        return Response(200, (("content-type", "text/csv; charset=utf-8"),), text, text, 1.0)

    config = CompareConfig(headers=[])
    legacy = csv_resp('id,title\r\n1,"a, b"\r\n2,c\r\n')
    same = compare_exchange(
        legacy, csv_resp('id,title\r\n1,"a, b"\r\n2,c\r\n'), None, None, rs(), config
    )
    assert same == []
    value = compare_exchange(
        legacy, csv_resp("id,title\r\n1,a; b\r\n2,c\r\n"), None, None, rs(), config
    )
    assert [(d.location, d.kind) for d in value] == [("body:csv[*].title", "value")]
    order = compare_exchange(
        legacy, csv_resp('title,id\r\n"a, b",1\r\nc,2\r\n'), None, None, rs(), config
    )
    assert [(d.location, d.kind) for d in order] == [("body:csv.header", "format")]
    quoted = compare_exchange(
        legacy, csv_resp('id,title\r\n"1","a, b"\r\n"2","c"\r\n'), None, None, rs(), config
    )
    assert [(d.location, d.kind) for d in quoted] == [("body:csv", "format")]


def test_a_tolerance_can_compare_instants_whatever_their_precision() -> None:
    a, b = {"at": "2026-12-02T10:00:48.000Z"}, {"at": "2026-12-02T10:00:48.794272+00:00"}
    strict = rs({"location": "body:$.at", "action": "tolerance", "ms": 1000})
    assert kinds(a, b, strict) == {("body:$.at", "format")}
    loose = rs({"location": "body:$.at", "action": "tolerance", "ms": 1000, "any_format": True})
    assert kinds(a, b, loose) == set()
    # past the tolerance: another moment, a time difference with its shift
    far = {"at": "2026-12-02T10:00:50.000+00:00"}
    assert kinds(a, far, loose) == {("body:$.at", "time")}


def _iso(epoch: float, digits: int = 3) -> str:
    import datetime as dt

    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    spec = {0: "seconds", 3: "milliseconds", 6: "microseconds"}[digits]
    return moment.isoformat(timespec=spec).replace("+00:00", "Z")


def test_a_time_tolerance_applies_only_to_values_stamped_during_the_request() -> None:
    from harness.compare.comparison import Clock

    rules = rs({"location": "body:$..*At", "action": "tolerance", "ms": 10000})
    start = 1_790_000_000.0
    # each side answered in its own window; the request ran for 20 ms on both
    clock = Clock((((start, start + 0.020), (start + 0.001, start + 0.021)),))

    def diff(a: str, b: str, c: Clock | None = clock) -> set[tuple[str, str]]:
        return {
            (d.location, d.kind) for d in compare_bodies({"atAt": a}, {"atAt": b}, rules, clock=c)
        }

    # both stamped during the request, a few ms apart: the tolerance applies
    assert diff(_iso(start + 0.004), _iso(start + 0.015)) == set()
    # stamped relative to the request (an expiry = now + 7 days) on both sides
    week = 7 * 86400
    assert diff(_iso(start + week + 0.003), _iso(start + week + 0.012)) == set()
    # a stored time (long before the request) that the candidate moved by one second:
    # within ms = 10000, but not stamped during the request, so compared exactly
    found = compare_bodies(
        {"atAt": _iso(start - 86400)}, {"atAt": _iso(start - 86400 + 1)}, rules, clock=clock
    )
    assert [(d.location, d.kind) for d in found] == [("body:$.atAt", "time")]
    assert "not both stamped during a request" in found[0].summary
    # a value stamped one second after its side's window: no common offset explains it
    assert diff(_iso(start + 0.010), _iso(start + 1.010)) == {("body:$.atAt", "time")}
    assert diff(_iso(start + week + 0.003), _iso(start + week + 1.003)) == {("body:$.atAt", "time")}
    # the candidate kept the stamp of this request, the legacy stamped again 15 ms after it
    # (a later request of the sequence): a small common offset does not explain that
    assert diff(_iso(start + 0.035), _iso(start + 0.020)) == {("body:$.atAt", "time")}
    # a service that truncates to seconds and pads: its precision is the second
    late = Clock((((start + 0.5, start + 0.52), (start + 0.5, start + 0.52)),))
    assert diff(_iso(start), _iso(start + 0.51), late) == set()  # "...:20.000Z"
    # without windows (a caller that has none) or with request_window = false: plain ms
    assert diff(_iso(start - 86400), _iso(start - 86400 + 1), None) == set()
    plain = rs(
        {"location": "body:$..*At", "action": "tolerance", "ms": 10000, "request_window": False}
    )
    assert (
        compare_bodies(
            {"atAt": _iso(start - 86400)}, {"atAt": _iso(start - 86399)}, plain, clock=clock
        )
        == []
    )


def test_an_earlier_request_of_a_sequence_is_a_window_too() -> None:
    from harness.compare.comparison import Clock

    rules = rs({"location": "db:*.*_at", "action": "tolerance", "ms": 10000})
    first, later = 1_790_000_000.0, 1_790_000_003.0
    one = ((first, first + 0.01), (first, first + 0.01))
    two = ((later, later + 0.01), (later, later + 0.01))
    row = {"rowid": 1, "created_at": _iso(first + 0.002)}
    other = {"rowid": 1, "created_at": _iso(first + 0.007)}
    writes_l = {"items": TableWrites(inserted=[row])}
    writes_c = {"items": TableWrites(inserted=[other])}
    assert compare_writes(writes_l, writes_c, rules, Clock((one, two))) == []
    found = compare_writes(writes_l, writes_c, rules, Clock((two,)))
    assert [(d.location, d.kind) for d in found] == [("db:items.created_at", "db_insert")]


def test_the_precision_of_a_time_as_written() -> None:
    from harness.compare.comparison import grain

    assert grain("2026-01-05T10:00:00.123Z") == 0.001
    assert grain("2026-01-05T10:00:00.120Z") == 0.01
    assert grain("2026-01-05T10:00:00.000Z") == 1.0
    assert grain("2026-01-05 10:00:00") == 1.0
    assert grain("2026-01-05T10:00Z") == 60.0
    assert grain("2026-01-05") == 86400.0


def _items(ids: list[int], **change: str) -> dict[str, Any]:
    return {
        "items": [
            {
                "id": i,
                "name": change.get(str(i), f"n{i}"),
                "createdAt": f"2026-01-{i:02d}T10:00:00.000Z",
            }
            for i in ids
        ]
    }


def test_an_ordering_finding_says_which_key_orders_each_side() -> None:
    found = compare_bodies(_items([1, 2, 3, 4]), _items([4, 3, 2, 1]), rs())
    assert [(d.location, d.kind) for d in found] == [("body:$.items", "ordering")]
    assert (found[0].legacy, found[0].candidate) == ("id asc", "id desc")
    assert "legacy: id asc; candidate: id desc" in found[0].summary
    # the same items in another order and a changed field: the order is one finding, the
    # items are lined up by their id and the change still shows where it is
    found = compare_bodies(_items([1, 2, 3, 4]), _items([4, 3, 2, 1], **{"2": "N2"}), rs())
    assert {(d.location, d.kind) for d in found} == {
        ("body:$.items", "ordering"),
        ("body:$.items[*].name", "value"),
    }
    assert next(d for d in found if d.kind == "value").legacy == "n2"
    # two pages of one listing drawn by opposite sort orders: one ordering finding, not a
    # value difference on every field of every item
    found = compare_bodies(_items([1, 2, 3]), _items([20, 19, 18]), rs())
    assert [(d.kind, d.legacy, d.candidate) for d in found] == [("ordering", "id asc", "id desc")]
    # sorted by another key: named per side
    a = {"items": [{"id": 1, "rank": 3}, {"id": 2, "rank": 2}, {"id": 3, "rank": 1}]}
    b = {"items": [{"id": 3, "rank": 1}, {"id": 2, "rank": 2}, {"id": 1, "rank": 3}]}
    found = compare_bodies(a, b, rs())
    assert (found[0].legacy, found[0].candidate) == ("id asc", "id desc")
    # the same sort on both sides with other items is not an ordering difference
    kinds_seen = {d.kind for d in compare_bodies(_items([1, 2, 3]), _items([4, 5, 6]), rs())}
    assert "ordering" not in kinds_seen
    # scalars: the values themselves
    found = compare_bodies({"v": [1, 2, 3]}, {"v": [3, 1, 2]}, rs())
    assert (found[0].kind, found[0].legacy, found[0].candidate) == (
        "ordering",
        "value asc",
        "none found",
    )
