"""Short fixed sequences of requests for the edge probes (issue 27): a signed request and
its replay, an idempotent request and its repeats. The state is kept between the steps and
restored after the last, and a difference is reported with every step that led to it."""

from __future__ import annotations

from harness.models import ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext

__all__ = ["run_steps", "started"]


def started(ctx: RunContext, label: str, total: int) -> None:
    ctx.listener.operation_started(OperationStarted(label=label, total=total))


def run_steps(ctx: RunContext, label: str, steps: list[PreparedRequest]) -> list[ExchangeResult]:
    """Each step on both targets in turn, the databases restored after the last; the
    differences of the last step are grouped as a sequence's (all steps in the example),
    those of an earlier step alone."""
    results: list[ExchangeResult] = []
    for index, req in enumerate(steps):
        last = index == len(steps) - 1
        result = ctx.exchange(req, restore=last)
        results.append(result)
        if not last and ctx.findings.live(result):
            ctx.pair.restore()
            fresh = ctx.findings.fresh_sequence_keys(result)
            if fresh:
                ctx.findings.add_sequence(fresh, list(results))
            break
        if last:
            fresh = ctx.findings.fresh_sequence_keys(result)
            if fresh:
                ctx.findings.add_sequence(fresh, list(results))
    agreed = not any(ctx.findings.live(r) for r in results)
    ctx.listener.case_done(CaseDone(label=label, agreed=agreed))
    return results
