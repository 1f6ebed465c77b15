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
