"""Stateful: lockstep sequences along the contract's links (see ``harness.cases.sequences``),
then the sequences that cross states (a create, its transitions, the reads filtered on the new
state: ``harness.cases.transitions``); a failing sequence is shrunk to its fewest steps and
becomes one finding per difference."""

from __future__ import annotations

import time

from harness.cases.sequences import SequenceOutcome, StatefulRunner
from harness.cases.transitions import TransitionRunner, plan_summary, transition_plans
from harness.models import ExchangeResult, PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext

__all__ = ["Stateful"]

LABEL = "stateful sequences"
TRANSITIONS = "transition sequences"


class Stateful:
    name = "stateful"

    def execute(self, ctx: RunContext) -> None:
        count = ctx.profile.stateful_sequences
        if count <= 0 and ctx.profile.transition_budget <= 0:
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
            lambda op_id, legacy, candidate: ctx.rules(op_id).same_status(legacy, candidate),
        )
        started = time.perf_counter()
        try:
            if count > 0:
                self._random(ctx, runner, count)
            if ctx.profile.transition_budget > 0:
                self._transitions(ctx, runner)
        finally:
            ctx.pair.timings.stateful += time.perf_counter() - started

    @staticmethod
    def _record(ctx: RunContext, runner: StatefulRunner, outcome: SequenceOutcome) -> None:
        """Each differing step of a sequence is a finding (its prefix; the first shrunk)."""
        for n, index in enumerate(outcome.drifts):
            prefix = outcome.until(index)
            fresh = ctx.findings.fresh_sequence_keys(prefix.results[-1])
            if not fresh:
                continue
            if ctx.profile.shrink and n == 0:  # the first difference is shrunk
                prefix = runner.shrink(prefix, ctx.profile.shrink_budget)
            ctx.findings.add_sequence(fresh, list(prefix.results))

    def _transitions(self, ctx: RunContext, runner: StatefulRunner) -> None:
        """The transition sequences, numbered after the random ones (shards split them too)."""
        # a plan that touches a selected operation may pass through others of the contract
        # (a run aimed at a list still creates and moves the rows it lists), never excluded ones
        allowed = {op.id for op in ctx.contract.select([], ctx.config.exclude)}
        aimed = {op.id for op in ctx.everything}
        plans = [p for p in transition_plans(ctx.contract, allowed) if p.operations & aimed]
        stats = ctx.stats.stateful
        if not plans:
            ctx.stats.notes.append(
                "stateful: no transition sequences (no create whose row a write moves to a "
                "state a list filters on)"
            )
            return
        offset = ctx.profile.stateful_sequences
        budget = ctx.profile.transition_budget
        mine = [k for k in range(offset, offset + budget) if ctx.runs_sequence(k)]
        if not mine:
            return
        ctx.stats.notes.append(f"stateful: transition plans: {plan_summary(plans)}")
        transitions = TransitionRunner(runner, plans, ctx.profile.max_steps)
        roles = ctx.roles()
        ctx.listener.operation_started(OperationStarted(label=TRANSITIONS, total=len(mine)))
        for k in mine:
            outcome = transitions.run(k - offset, k, roles)
            stats["transition_sequences"] = stats.get("transition_sequences", 0) + 1
            stats["transition_steps"] = stats.get("transition_steps", 0) + len(outcome.results)
            stats["transition_broken"] = stats.get("transition_broken", 0) + int(outcome.broken)
            if outcome.failed_at is not None:
                stats["transition_failing"] = stats.get("transition_failing", 0) + 1
                self._record(ctx, runner, outcome)
            ctx.listener.case_done(CaseDone(label=TRANSITIONS, agreed=outcome.failed_at is None))

    def _random(self, ctx: RunContext, runner: StatefulRunner, count: int) -> None:
        if not runner.starts:
            ctx.stats.notes.append("stateful: the contract has no followable links")
            return
        roles = ctx.roles()
        stats = ctx.stats.stateful
        depths: list[int] = []
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
            stats["depth"] = max(stats.get("depth", 0), len(outcome.results))
            first = outcome.results[0] if outcome.results else None
            if first is not None and 200 <= first.legacy.status < 300:
                depths.append(len(outcome.results))  # started: its first step succeeded
            if outcome.failed_at is not None:
                stats["failing"] += 1
                self._record(ctx, runner, outcome)
            ctx.listener.case_done(CaseDone(label=LABEL, agreed=outcome.failed_at is None))
        stats["started"] = len(depths)
        stats["one_step"] = sum(1 for d in depths if d <= 1)
        if depths and stats["one_step"] > len(depths) / 2:
            ctx.stats.warnings.append(
                f"stateful: {stats['one_step']} of the {len(depths)} sequences whose first step "
                "succeeded ended there: no link could be followed (add links or examples, "
                "e.g. with an overlay)"
            )
        elif not depths:
            ctx.stats.warnings.append(
                f"stateful: no sequence's first step succeeded in {count} tries (the contract's "
                "examples or the roles cannot create anything)"
            )
