"""Short fixed sequences of requests for the edge probes (issue 27): a signed request and
its replay, an idempotent request and its repeats. The state is kept between the steps and
restored after the last, and a difference is reported with every step that led to it."""

from __future__ import annotations

import threading
import time

from harness.models import ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext

__all__ = ["run_steps", "started"]


def started(ctx: RunContext, label: str, total: int) -> None:
    ctx.listener.operation_started(OperationStarted(label=label, total=total))


def _with_copy(ctx: RunContext, req: PreparedRequest) -> ExchangeResult:
    """``req`` on both targets while a copy of it goes to each at the same moment (two
    concurrent requests per side); the copies' answers are not compared, their writes are
    (they are in the state the next step reads)."""
    gate = threading.Barrier(3)
    signer = ctx.pair.transport.signer if ctx.pair.transport is not None else None
    twin = req
    if signer is not None and signer.applies(req.operation):
        # a second delivery is signed on its own (another timestamp): not a replay
        twin = signer.signed(req, time.time() - 1)
    failures: list[BaseException] = []

    def copy(key: str) -> None:
        try:
            gate.wait(timeout=30)
            ctx.pair.send_one(key, twin)
        except BaseException as exc:  # re-raised on the phase's thread
            failures.append(exc)

    threads = [threading.Thread(target=copy, args=(k,)) for k in ("legacy", "candidate")]
    for thread in threads:
        thread.start()
    try:
        gate.wait(timeout=30)
        return ctx.exchange(req, restore=False)
    finally:
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]


def run_steps(
    ctx: RunContext, label: str, steps: list[PreparedRequest], *, concurrent: bool = False
) -> list[ExchangeResult]:
    """Each step on both targets in turn, the databases restored after the last; the
    differences of the last step are grouped as a sequence's (all steps in the example),
    those of an earlier step alone. ``concurrent``: the first step goes twice at once."""
    results: list[ExchangeResult] = []
    for index, req in enumerate(steps):
        last = index == len(steps) - 1
        if index == 0 and concurrent and not last:
            result = _with_copy(ctx, req)
        else:
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
