"""Stateless: every selected operation's generated cases, each on both targets, restored
after every write; then the same cases with each ``[fixtures]`` value in the parameters and
body fields it names; each list walked to its last page (``run.pagewalk``). ``Shrink`` then
reduces each open finding to a minimal request."""

from __future__ import annotations

from harness.cases.fixtures import fixture_cases
from harness.models import PreparedRequest
from harness.reporting.results import OperationFinished
from harness.run.context import RunContext
from harness.run.datacases import combination_cases, data_cases, scoped_cases
from harness.run.outcome import operation_summary
from harness.run.pagewalk import walk_pages
from harness.run.readback import ReadBack

__all__ = ["Shrink", "Stateless"]


class Stateless:
    name = "stateless"

    def execute(self, ctx: RunContext) -> None:
        readback = ReadBack(ctx, ctx.profile.reads_after_writes)
        for op, cases in ctx.cases.stream(ctx.selected):
            cases = cases + fixture_cases(ctx, ctx.fixtures, op, cases)
            drawn: list[tuple[PreparedRequest, PreparedRequest | None]]
            drawn = [(c, None) for c in scoped_cases(ctx, op, cases)]
            drawn += data_cases(ctx, op, cases)
            drawn += [(c, None) for c in combination_cases(ctx, op, cases)]
            own = [None] * len(cases) + [mine for _, mine in drawn]
            ctx.replay_all(
                op.id, op, cases + [req for req, _ in drawn], candidates=own, after_write=readback
            )
            walk_pages(ctx, op, cases + [req for req, _ in drawn])
            summary = operation_summary(ctx, ctx.stats.op(op))
            ctx.listener.operation_finished(OperationFinished(summary=summary))
        readback.note("stateless")


class Shrink:
    name = "shrink"

    def execute(self, ctx: RunContext) -> None:
        if ctx.profile.shrink:
            ctx.pair.timings.shrink += ctx.findings.shrink_all(
                ctx.exchange,
                budget=ctx.profile.shrink_budget,
                may_write=(
                    ctx.mode == "managed"
                    or bool(ctx.pair.watchers)
                    or bool(ctx.config.external.reset_command)
                ),
            )
