"""Stateful: lockstep sequences along the contract's links (see ``harness.stateful``); a
failing sequence is shrunk to its fewest steps and becomes one finding per difference."""

from __future__ import annotations

import time

from harness.context import RunContext
from harness.models import ExchangeResult, PreparedRequest
from harness.results import CaseDone, OperationStarted
from harness.stateful import StatefulRunner

__all__ = ["Stateful"]

LABEL = "stateful sequences"


class Stateful:
    name = "stateful"

    def execute(self, ctx: RunContext) -> None:
        count = ctx.profile.stateful_sequences
        if count <= 0:
            return

        def send(lreq: PreparedRequest, creq: PreparedRequest) -> ExchangeResult:
            return ctx.exchange(lreq, creq, restore=False)

        runner = StatefulRunner(
            ctx.contract,
            {op.id for op in ctx.everything},
            ctx.cases.pool,
            send,
            ctx.pair.restore,
            lambda result: bool(ctx.findings.live(result)),
            ctx.seed,
            ctx.profile.max_steps,
        )
        if not runner.starts:
            ctx.stats.notes.append("stateful: the contract has no followable links")
            return
        roles = ctx.roles()
        started = time.perf_counter()
        stats = ctx.stats.stateful
        mine = [k for k in range(count) if ctx.runs_sequence(k)]
        if not mine:
            return
        ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(mine)))
        for k in mine:
            runner.start_sequence(k)  # its choices do not depend on which sequences ran
            outcome = runner.run_random(runner.rng.choice(roles))
            stats["sequences"] += 1
            stats["steps"] += len(outcome.results)
            stats["broken"] += int(outcome.broken)
            if outcome.failed_at is not None:
                stats["failing"] += 1
                fresh = ctx.findings.fresh_sequence_keys(outcome.results[-1])
                if fresh:
                    if ctx.profile.shrink:
                        outcome = runner.shrink(outcome, ctx.profile.shrink_budget)
                    ctx.findings.add_sequence(fresh, list(outcome.results))
            ctx.listener.case_done(CaseDone(label=LABEL, agreed=outcome.failed_at is None))
        ctx.pair.timings.stateful += time.perf_counter() - started
