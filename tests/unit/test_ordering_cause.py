"""An ordering finding names its real cause (issue 28): the key each side sorts by, "an
order given by the request" where the request's own sort parameter (a field and a
direction) or its list of ids decides a side's order, and "none found" where nothing does."""

from __future__ import annotations

from typing import Any

from harness.compare.comparison import NO_ORDER, compare_bodies, request_orders
from harness.compare.normalization import RuleSet
from harness.models import NOT_SET, Difference, PreparedRequest

NOTES = {
    1: {"id": 1, "title": "b", "createdAt": "2026-01-01T10:00:00Z"},
    2: {"id": 2, "title": "c", "createdAt": "2026-01-01T12:00:00Z"},
    3: {"id": 3, "title": "a", "createdAt": "2026-01-01T11:00:00Z"},
    4: {"id": 4, "title": "d", "createdAt": "2026-01-01T09:00:00Z"},
}


def _page(*ids: int) -> dict[str, Any]:
    return {"items": [NOTES[i] for i in ids]}


def _req(query: tuple[tuple[str, str], ...] = (), body: Any = NOT_SET) -> PreparedRequest:
    return PreparedRequest(
        "GET /notes", "GET", "/notes", query, (), None, body, None, None, "positive"
    )


def _ordering(req: PreparedRequest, legacy: Any, candidate: Any) -> Difference:
    diffs = compare_bodies(legacy, candidate, RuleSet([], "GET /notes"))
    (found,) = request_orders(req, legacy, candidate, diffs)
    assert found.kind == "ordering"
    return found


def test_a_side_that_follows_the_requested_sort_says_the_request_gave_its_order() -> None:
    # the legacy sorts by createdAt desc as asked (2, 3, 1); the port ignores it (id asc)
    found = _ordering(_req((("sort", "-createdAt"),)), _page(2, 3, 1), _page(1, 2, 3))
    assert found.legacy == "createdAt desc: an order given by the request (sort=-createdAt)"
    assert found.candidate == "id asc"
    assert "an order given by the request (sort=-createdAt); candidate: id asc" in found.summary


def test_a_field_and_a_direction_in_two_parameters_and_another_spelling_of_the_field() -> None:
    req = _req((("order_by", "created_at"), ("dir", "desc")))
    found = _ordering(req, _page(1, 2, 3), _page(2, 3, 1))
    assert found.legacy == "id asc"
    assert found.candidate == (
        "createdAt desc: an order given by the request (order_by=created_at&dir=desc)"
    )


def test_items_listed_by_id_in_the_request_are_an_order_the_request_gave() -> None:
    found = _ordering(_req((("ids", "3,1,2"),)), _page(3, 1, 2), _page(1, 2, 3))
    assert found.legacy == "an order given by the request (ids)"
    assert found.candidate == "id asc"


def test_no_field_and_no_request_order_is_none_found() -> None:
    # 3, 1, 4, 2 by nothing: no field of the items orders them, and the request asks nothing
    found = _ordering(_req(), _page(1, 2, 3, 4), _page(3, 1, 4, 2))
    assert found.legacy == "id asc"
    assert found.candidate == NO_ORDER == "none found"
    assert found.summary.endswith("(legacy: id asc; candidate: none found)")


def test_a_sort_neither_side_follows_leaves_the_keys_each_side_sorts_by() -> None:
    found = _ordering(_req((("sort", "title"),)), _page(1, 2, 3), _page(3, 2, 1))
    assert (found.legacy, found.candidate) == ("id asc", "id desc")
