"""Lists walked to their last page on both sides, every page compared
(:mod:`harness.cases.paging`): the barest query, then queries whose filters and sort came
from the data and the covering array, each with page sizes that make the last page exactly
full, one short and one over. A cursor list follows each side's own cursor; an offset or
page-number list stops after the short or empty page past the end. Within
``Profile.page_walks`` walks per operation, ``MAX_PAGES`` pages each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from harness.cases.paging import MAX_PAGES, Paging, items_of, next_cursor, page_query, page_sizes
from harness.cases.paging import paging_of as _paging_of
from harness.models import ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted

if TYPE_CHECKING:
    from harness.run.context import RunContext
    from harness.setup.contract import Operation

__all__ = ["walk", "walk_pages"]


def _starts(paging: Paging, cases: list[PreparedRequest], budget: int) -> list[PreparedRequest]:
    """The queries to walk: the barest positive case first, then the others whose filters
    differ (their paging parameters dropped), each query once."""
    positive = [c for c in cases if c.mode == "positive" and c.method.upper() == "GET"]
    if not positive:
        return []
    bare = min(positive, key=lambda c: len(c.query))
    out: dict[tuple[tuple[str, str], ...], PreparedRequest] = {}
    for case in [bare, *reversed(positive)]:  # the drawn combinations sit at the end
        query = tuple(sorted((k, v) for k, v in case.query if k not in paging.names))
        if query not in out and (case is bare or query):
            out[query] = replace(case, query=query)
        if len(out) >= budget:
            break
    return list(out.values())


def walk_pages(ctx: RunContext, op: Operation, cases: list[PreparedRequest]) -> None:
    """Walk ``op``'s list from the starting queries drawn from ``cases``."""
    budget = ctx.profile.page_walks
    if budget <= 0 or op.api is None or op.method.upper() != "GET" or "{" in op.path:
        return
    paging = _paging_of(op.api.definition.raw.get("parameters") or [], ctx.contract.raw)
    if paging is None:
        return
    walks = pages = ends = 0
    for index, start in enumerate(_starts(paging, cases, budget)):
        total = _total(ctx, paging, start)
        sizes = page_sizes(total, paging) if total is not None else []
        if not sizes:
            continue
        size = sizes[index % len(sizes)]
        sent, ended = walk(ctx, op, paging, start, size)
        walks, pages, ends = walks + 1, pages + sent, ends + int(ended)
    if walks:
        ctx.stats.notes.append(
            f"pages {op.id}: {walks} walk(s), {pages} page(s), {ends} to the last page"
        )


def _total(ctx: RunContext, paging: Paging, start: PreparedRequest) -> int | None:
    """Rows the query lists, counted on the legacy with the largest page (at most that
    page's size; None on an error)."""
    size = paging.high or 100
    req = replace(start, query=page_query(paging, start.query, size, 0))
    resp = ctx.pair.send_one("legacy", req)
    if not 200 <= resp.status < 300:
        return None
    return len(items_of(resp.body))


def walk(
    ctx: RunContext,
    op: Operation,
    paging: Paging,
    start: PreparedRequest,
    size: int,
    *,
    candidate_start: PreparedRequest | None = None,
    record: Callable[[ExchangeResult], bool] | None = None,
) -> tuple[int, bool]:
    """(pages sent, whether the walk reached the end) of one walk. ``record`` given (the
    growth phase), the pages are sent with the state kept and ``record`` files each one
    (True: it agreed); otherwise each page is a stateless case, restored after. A cursor
    list whose two sides hand out other tokens also gets, once, the legacy's token on both
    sides: the candidate must continue a walk the legacy started."""
    label = f"{op.id} · pages of {size}"
    ctx.listener.operation_started(OperationStarted(label=label, total=MAX_PAGES))
    stats = ctx.stats.op(op)
    cursors: tuple[str | None, str | None] = (None, None)
    cstart = candidate_start or start
    crossed = False
    for index in range(MAX_PAGES):
        lreq = replace(start, query=page_query(paging, start.query, size, index, cursors[0]))
        creq = None
        if candidate_start is not None or (
            paging.kind == "cursor" and cursors[1] not in (None, cursors[0])
        ):
            own = cursors[1] if cursors[1] is not None else cursors[0]
            creq = replace(cstart, query=page_query(paging, cstart.query, size, index, own))
        if record is not None:
            result = ctx.exchange(lreq, creq, restore=False)
            agreed = record(result)
        else:
            result = ctx.exchange(lreq, creq)
            agreed = not ctx.findings.live(result)
            stats.add(result, agreed)
            ctx.findings.record(result, "stateless")
        ctx.listener.case_done(CaseDone(label=label, agreed=agreed))
        legacy, candidate = result.legacy, result.candidate
        if not 200 <= legacy.status < 300:
            return index + 1, False
        rows = len(items_of(legacy.body))
        if paging.kind == "cursor":
            cursors = (next_cursor(legacy.body), next_cursor(candidate.body))
            if cursors[0] is None or rows == 0:
                return index + 1, True
            if not crossed and cursors[1] is not None and cursors[1] != cursors[0]:
                # other tokens: a client that paged on the legacy and goes on against the
                # candidate (a gateway moving its route) hands the candidate the legacy's
                crossed = True
                cross = replace(
                    start, query=page_query(paging, start.query, size, index + 1, cursors[0])
                )
                ccross = None
                if candidate_start is not None:  # the candidate's own parent, the same token
                    ccross = replace(
                        cstart, query=page_query(paging, cstart.query, size, index + 1, cursors[0])
                    )
                if record is not None:
                    record(ctx.exchange(cross, ccross, restore=False))
                else:
                    result = ctx.exchange(cross, ccross)
                    stats.add(result, not ctx.findings.live(result))
                    ctx.findings.record(result, "stateless")
        elif rows < size:
            return index + 1, True
    return MAX_PAGES, False
