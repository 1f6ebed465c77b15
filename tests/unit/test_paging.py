"""Walking a list to its last page: the paging read from the contract, the next page's query,
and page sizes that put the end exactly full, one short and one over."""

from __future__ import annotations

from typing import Any

from harness.cases.paging import Paging, next_cursor, page_query, page_sizes, paging_of

ROOT: dict[str, Any] = {
    "components": {
        "parameters": {
            "Limit": {
                "name": "limit",
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "maximum": 50},
            }
        }
    }
}


def _q(name: str, kind: str = "integer") -> dict[str, Any]:
    return {"name": name, "in": "query", "schema": {"type": kind}}


def test_paging_is_read_from_the_parameters_names_and_types() -> None:
    ref = {"$ref": "#/components/parameters/Limit"}
    assert paging_of([_q("status", "string"), ref, _q("offset")], ROOT) == Paging(
        "offset", "offset", "limit", 1, 50
    )
    assert paging_of([_q("page"), _q("pageSize")], ROOT) == Paging("page", "page", "pageSize")
    assert paging_of([_q("cursor", "string"), ref], ROOT) == Paging(
        "cursor", "cursor", "limit", 1, 50
    )
    assert paging_of([_q("status", "string"), ref], ROOT) is None  # a size alone: one page
    assert paging_of([_q("offset")], ROOT) is None  # no page size: the end cannot be told


def test_the_next_page_query_keeps_the_filters_and_moves_the_page() -> None:
    offset = Paging("offset", "offset", "limit")
    base = (("status", "open"), ("offset", "9"), ("limit", "9"))
    assert page_query(offset, base, 4, 2) == (("status", "open"), ("limit", "4"), ("offset", "8"))
    page = Paging("page", "page", "size", first=1)
    assert page_query(page, (), 4, 0) == (("size", "4"), ("page", "1"))
    cursor = Paging("cursor", "cursor", "limit")
    assert page_query(cursor, (), 4, 0) == (("limit", "4"),)
    assert page_query(cursor, (), 4, 3, "abc") == (("limit", "4"), ("cursor", "abc"))


def test_the_cursor_an_answer_hands_on() -> None:
    assert next_cursor({"data": [], "nextCursor": "abc"}) == "abc"
    assert next_cursor({"data": [], "pagination": {"next_page_token": "t"}}) == "t"
    assert next_cursor({"data": [], "nextCursor": None}) is None
    assert next_cursor([1, 2]) is None


def test_page_sizes_put_the_end_exactly_full_then_one_short_then_one_over() -> None:
    paging = Paging("offset", "offset", "limit", 1, 50)
    sizes = page_sizes(60, paging, pages=8)
    assert sizes[0] == 10  # divides 60: the last page exactly full, 7 requests
    assert sizes[1:] == [11, 9]
    assert page_sizes(0, paging) == []
    assert page_sizes(3, paging) == [1, 2]  # no size 0
    assert all(s <= 5 for s in page_sizes(7, Paging("cursor", "c", "n", 1, 5)))


def test_page_size_of_reads_the_default_and_the_maximum() -> None:
    from harness.cases.paging import PageSize, page_size_of

    params = [
        {"name": "q", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 50}},
    ]
    assert page_size_of(params, {}) == PageSize("limit", None, 50)
    ref = {
        "components": {
            "parameters": {
                "P": {
                    "name": "pageSize",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 5, "default": 20, "maximum": 100},
                }
            }
        }
    }
    assert page_size_of([{"$ref": "#/components/parameters/P"}], ref) == PageSize(
        "pageSize", 20, 100, 5
    )
    # no documented boundary, a required size, a size that is not an integer: nothing to grow
    assert (
        page_size_of([{"name": "limit", "in": "query", "schema": {"type": "integer"}}], {}) is None
    )
    required = {
        "name": "limit",
        "in": "query",
        "required": True,
        "schema": {"type": "integer", "maximum": 9},
    }
    assert page_size_of([required], {}) is None
    assert (
        page_size_of(
            [{"name": "limit", "in": "query", "schema": {"type": "string", "maximum": 9}}], {}
        )
        is None
    )


def test_growth_goal_is_the_largest_boundary_in_reach() -> None:
    from harness.cases.paging import PageSize
    from harness.run.phases.growth import growth_goal

    both = PageSize("limit", 20, 100)
    assert growth_goal(3, both, 60) == 21  # the maximum + 1 is 98 creates away
    assert growth_goal(3, both, 98) == 101
    assert growth_goal(41, both, 60) == 101  # past the default already
    assert growth_goal(101, both, 500) is None  # past both
    assert growth_goal(0, both, 20) is None  # neither in reach
    assert growth_goal(20, PageSize("limit", None, 50), 60) == 51
