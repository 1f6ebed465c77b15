"""Walking a list to its last page: how an operation pages (a cursor its answers hand on, an
offset, or a page number, with a page-size parameter) read from the contract's query
parameters by name and type, the next page's query from an answer, and the page sizes that
put the end where off-by-one paging lives (the last page exactly full, one short, one over).

Single requests see one page; a keyset condition that repeats the boundary row, a cursor
decoded differently, a page past the end answered differently are only seen by following
the list page after page, each side along its own answers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from harness.cases.edges import resolve_ref
from harness.cases.fixtures import list_items

__all__ = [
    "MAX_PAGES",
    "PageSize",
    "Paging",
    "next_cursor",
    "page_query",
    "page_size_of",
    "page_sizes",
    "paging_of",
]

MAX_PAGES = 8  # pages per walk at most (the empty page past the end included)
_SIZE = re.compile(r"^(limit|size|page_?size|per_?page|count|take|first|top|max_?results)$", re.I)
_OFFSET = re.compile(r"^(offset|skip|start)$", re.I)
_PAGE = re.compile(r"^(page|page_?number|page_?no)$", re.I)
_CURSOR = re.compile(r"^(cursor|after|page_?token|continuation|next|starting_?after)$", re.I)
_NEXT = re.compile(r"^(next_?cursor|next_?page_?token|next|cursor|continuation_?token)$", re.I)


@dataclass(frozen=True)
class Paging:
    """How one list operation pages."""

    kind: Literal["cursor", "offset", "page"]
    param: str  # the cursor, offset or page-number parameter
    size: str | None  # the page-size parameter
    low: int = 1
    high: int | None = None
    first: int = 1  # the first page's number (page kind)

    @property
    def names(self) -> set[str]:
        return {self.param} | ({self.size} if self.size else set())


def _int_schema(schema: Any, root: dict[str, Any]) -> dict[str, Any] | None:
    schema = resolve_ref(schema, root)
    if isinstance(schema, dict) and schema.get("type") == "integer":
        return schema
    return None


def paging_of(parameters: list[Any], root: dict[str, Any]) -> Paging | None:
    """The operation's paging, from its optional query parameters: a cursor, offset or page
    parameter, and an integer page-size parameter with its bounds; None when it has none."""
    params: dict[str, dict[str, Any]] = {}
    for param in parameters:
        param = resolve_ref(param, root)
        if isinstance(param, dict) and param.get("in") == "query" and not param.get("required"):
            params[str(param.get("name"))] = param
    size_name, low, high = None, 1, None
    for name, param in params.items():
        schema = _int_schema(param.get("schema"), root)
        if schema is not None and _SIZE.match(name):
            size_name = name
            low = max(int(schema.get("minimum", 1)), 1)
            top = schema.get("maximum")
            high = int(top) if isinstance(top, int | float) else None
            break
    for name, param in params.items():
        schema = _int_schema(param.get("schema"), root)
        if size_name is None:
            break  # an offset or page walk needs to know the page size to find the end
        if schema is not None and _OFFSET.match(name):
            return Paging("offset", name, size_name, low, high)
        if schema is not None and _PAGE.match(name) and name != size_name:
            return Paging("page", name, size_name, low, high, int(schema.get("minimum", 1)))
    for name in params:
        if _CURSOR.match(name):
            return Paging("cursor", name, size_name, low, high)
    return None


@dataclass(frozen=True)
class PageSize:
    """A list's page-size parameter as the contract documents it: its name, its default and
    its maximum (either may be absent, not both)."""

    name: str
    default: int | None
    maximum: int | None
    minimum: int = 1


def page_size_of(parameters: list[Any], root: dict[str, Any]) -> PageSize | None:
    """The optional integer page-size query parameter (``limit``, ``pageSize``, ``per_page``,
    ...) whose schema gives a default or a maximum; None when there is none (a list with no
    documented cap has no boundary to grow past)."""
    for param in parameters:
        param = resolve_ref(param, root)
        if not isinstance(param, dict) or param.get("in") != "query" or param.get("required"):
            continue
        name = str(param.get("name"))
        schema = _int_schema(param.get("schema"), root)
        if schema is None or not _SIZE.match(name):
            continue
        default, top = schema.get("default"), schema.get("maximum")
        default = int(default) if isinstance(default, int | float) else None
        top = int(top) if isinstance(top, int | float) else None
        if default is None and top is None:
            continue
        return PageSize(name, default, top, max(int(schema.get("minimum", 1)), 1))
    return None


def next_cursor(body: Any) -> str | None:
    """The cursor an answer hands on (``nextCursor``, ``next``, ``nextPageToken`` at its top
    level or in a ``pagination``/``meta`` object), or None at the end."""
    if not isinstance(body, dict):
        return None
    places = [body, *(v for k, v in body.items() if isinstance(v, dict))]
    for place in places:
        for key, value in place.items():
            if _NEXT.match(key) and isinstance(value, str | int) and not isinstance(value, bool):
                return str(value)
    return None


def page_sizes(total: int, paging: Paging, pages: int = MAX_PAGES) -> list[int]:
    """Page sizes for a list of ``total`` rows, each walk within ``pages`` requests: the
    last page exactly full (a size that divides the total), then one row short, then one
    over; within the size parameter's bounds."""
    if total <= 0:
        return []
    high = paging.high or max(total, paging.low)
    least = max(paging.low, math.ceil(total / max(pages - 1, 1)))
    exact = next((s for s in range(least, min(high, total) + 1) if total % s == 0), None)
    base = exact if exact is not None else min(max(least, paging.low), high)
    out = [base]
    for size in (base + 1, base - 1):  # the last page one short, then one over
        if paging.low <= size <= high and math.ceil(total / size) < pages:
            out.append(size)
    return list(dict.fromkeys(out))


def page_query(
    paging: Paging,
    query: tuple[tuple[str, str], ...],
    size: int,
    index: int,
    cursor: str | None = None,
) -> tuple[tuple[str, str], ...]:
    """``query`` (its paging parameters dropped) for page ``index`` (0: the first) of
    ``size`` rows; a cursor page carries ``cursor`` (None: the first page)."""
    out = [(k, v) for k, v in query if k not in paging.names]
    if paging.size:
        out.append((paging.size, str(size)))
    if paging.kind == "offset":
        out.append((paging.param, str(index * size)))
    elif paging.kind == "page":
        out.append((paging.param, str(paging.first + index)))
    elif cursor is not None:
        out.append((paging.param, cursor))
    return tuple(out)


def items_of(body: Any) -> list[dict[str, Any]]:
    """The rows of one page."""
    return list_items(body)
