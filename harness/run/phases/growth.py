"""Growth: lists grown past their documented page size, then read on both sides.

A list whose page-size parameter has a default or a maximum in the contract (``limit``,
default 20, maximum 100) shows its paging bugs (another default, a cap below the documented
maximum, a boundary row lost between pages) only when more rows exist than that size under
one parent, and a small seed never has them. For each such list with a create on the same
path (``POST /items`` for ``GET /items``; ``POST /cases/{id}/chat`` under one case) that
succeeded earlier in the run (or, for a top-level collection the run did not create in: the
create's positive pool cases), this phase sends those creates again on both sides, the state
kept, until the legacy lists default + 1 rows and, within the profile's
``growth_rows``, maximum + 1; then lists the grown collection without the size parameter, at
the default, at the maximum, and walks it to its last page (``run.pagewalk``); then restores.

What differs in a read is a finding of phase ``growth`` whose steps are the creates and the
read (the replay script rebuilds the state); a difference of the creates themselves is a
finding too. Needs the state restored afterwards: managed mode, or URL mode with
``[external] databases``; not with the A/A twin (whose state would not grow alike).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from harness.cases.fixtures import list_items
from harness.cases.generation import build_request
from harness.cases.paging import PageSize, page_size_of, page_sizes, paging_of
from harness.cases.sequences import fill
from harness.models import ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext
from harness.run.pagewalk import walk
from harness.setup.contract import Operation

__all__ = ["Growth", "growth_goal"]

PHASE = "growth"
_Pair = tuple[PreparedRequest, PreparedRequest | None]


def growth_goal(count: int, size: PageSize, budget: int) -> int | None:
    """The number of rows to grow a list of ``count`` rows to: the largest of default + 1
    and maximum + 1 that it does not reach yet and that ``budget`` creates can reach; None
    when it is past both already or neither is in reach."""
    targets = {t + 1 for t in (size.default, size.maximum) if t is not None}
    reachable = [t for t in targets if count < t and t - count <= budget]
    return max(reachable) if reachable else None


@dataclass
class _Plan:
    op: Operation
    create: Operation
    size: PageSize
    role: str | None
    creates: list[_Pair]  # earlier successes of the create, one parent


class Growth:
    name = PHASE

    def execute(self, ctx: RunContext) -> None:
        budget = ctx.profile.growth_rows
        if budget <= 0:
            return
        if not ctx.pair.watchers or ctx.pair.has_twin:
            ctx.stats.notes.append(
                "growth: skipped (the grown rows must be rolled back: managed mode or "
                "[external] databases, and no A/A twin)"
            )
            return
        for plan in self._plans(ctx):
            phase, ctx.phase = ctx.phase, PHASE
            try:
                self._grow(ctx, plan, budget)
            finally:
                ctx.phase = phase
                ctx.pair.restore(wrote=True)

    @staticmethod
    def _plans(ctx: RunContext) -> list[_Plan]:
        out = []
        # a run aimed at the list still creates the rows it lists, never through an excluded
        # operation
        allowed = ctx.contract.select([], ctx.config.exclude)
        for op in ctx.selected:
            if op.method.upper() != "GET" or op.api is None:
                continue
            size = page_size_of(op.api.definition.raw.get("parameters") or [], ctx.contract.raw)
            if size is None:
                continue
            create = next(
                (c for c in allowed if c.method.upper() == "POST" and c.path == op.path),
                None,
            )
            if create is None:
                continue
            plan = None
            for (op_id, role), kept in sorted(ctx.stats.successes.items()):
                if op_id != create.id or not kept or (op.id, role) not in ctx.stats.ok_roles:
                    continue
                parent = kept[0][0].path  # one parent: the first success's
                creates = [(lreq, creq) for lreq, creq in kept if lreq.path == parent]
                plan = _Plan(op, create, size, kept[0][0].role, creates)
                break  # one role grows each list
            if plan is None and "{" not in create.path:
                # a run that never sent the create (aimed at the list, or a shard without
                # it): its positive pool cases, as a role the list answered
                who = next(
                    (r for r in ctx.roles() if (op.id, r or "anonymous") in ctx.stats.ok_roles),
                    None,
                )
                if who is not None or (op.id, "anonymous") in ctx.stats.ok_roles:
                    pool: list[_Pair] = [
                        (replace(c, role=who), None) for c in ctx.cases.pool(create.id)
                    ]
                    plan = _Plan(op, create, size, who, pool) if pool else None
            if plan is not None:
                out.append(plan)
        return out

    def _grow(self, ctx: RunContext, plan: _Plan, budget: int) -> None:
        op, size = plan.op, plan.size
        lcreate, ccreate = plan.creates[0]
        base = build_request(
            operation=op.id,
            method="GET",
            path=op.path,
            query=(),
            headers=(),
            role=plan.role,
            mode="positive",
        )
        lread = fill(base, op.path, dict(lcreate.path_params))
        cread = None
        if ccreate is not None and ccreate.path != lcreate.path:
            cread = fill(base, op.path, dict(ccreate.path_params))
        top = size.maximum or size.default or 0
        counted = ctx.pair.send_one("legacy", replace(lread, query=((size.name, str(top)),)))
        if not 200 <= counted.status < 300:
            return
        count = len(list_items(counted.body))
        goal = growth_goal(count, size, budget)
        if goal is None:
            return
        label = f"{op.id} · grown to {goal} rows"
        ctx.listener.operation_started(OperationStarted(label=label, total=goal - count + 3))
        steps: list[ExchangeResult] = []
        made, failed = 0, 0
        while count + made < goal and failed < len(plan.creates) and len(steps) < 2 * budget:
            lreq, creq = plan.creates[len(steps) % len(plan.creates)]
            result = ctx.exchange(lreq, creq, restore=False)
            steps.append(result)
            self._record(ctx, plan.create, steps[:-1], result, set())
            ctx.listener.case_done(CaseDone(label=label, agreed=not ctx.findings.live(result)))
            if 200 <= result.legacy.status < 300:
                made, failed = made + 1, 0
            else:
                failed += 1  # a create refused (a unique name): try the next success
        if not made:
            return
        own = {d.location for s in steps for d in s.differences}
        reads = 0
        queries: list[tuple[tuple[str, str], ...]] = [()]
        queries += [((size.name, str(n)),) for n in (size.default, size.maximum) if n is not None]
        for query in dict.fromkeys(queries):
            read = ctx.exchange(
                replace(lread, query=query),
                replace(cread, query=query) if cread is not None else None,
                restore=False,
            )
            reads += 1
            agreed = self._record(ctx, op, steps, read, own)
            ctx.listener.case_done(CaseDone(label=label, agreed=agreed))
        paging = paging_of(op.api.definition.raw.get("parameters") or [], ctx.contract.raw)
        pages = 0
        if paging is not None and ctx.profile.page_walks > 0:
            sizes = page_sizes(count + made, paging)
            if sizes:

                def record(result: ExchangeResult) -> bool:
                    return self._record(ctx, op, steps, result, own)

                pages, _ = walk(
                    ctx, op, paging, lread, sizes[0], candidate_start=cread, record=record
                )
        ctx.stats.notes.append(
            f"growth {op.id}: {count} -> {count + made} rows ({made} create(s) of "
            f"{plan.create.id} as {plan.role or 'anonymous'}), {reads} read(s), "
            f"{pages} page(s) walked"
        )

    @staticmethod
    def _record(
        ctx: RunContext,
        op: Operation,
        prior: list[ExchangeResult],
        result: ExchangeResult,
        own: set[str],
    ) -> bool:
        """File one exchange of the phase as a sequence (the creates before it, then it);
        a read's differences in the rows are the creates' (cumulative), not its own. True
        when it agreed."""
        kept = [
            d
            for d in result.differences
            if not (d.location.startswith("db:") and d.location in own)
        ]
        if len(kept) != len(result.differences):
            result = replace(result, differences=kept)
        agreed = not ctx.findings.live(result)
        ctx.stats.op(op).add(result, agreed)
        fresh = ctx.findings.fresh_sequence_keys(result, PHASE)
        if fresh:
            ctx.findings.add_sequence(fresh, [*prior, result], phase=PHASE)
        return agreed
