"""Rate limits (issue 27): for each ``[[rate_limit]]`` operation, its valid request sent again
and again to both sides at once until both refuse (``429``) or the ladder ends; the step at
which each side first refused and the ``Retry-After`` each gave are compared (the latter
within ``tolerance_s``, since the two clocks tick apart). It runs last, so the counters it
fills starve no other phase. The ladder keeps the state between its steps (the counters may
live in the database) and restores it after. In managed mode a rule's ``restart_env`` restarts
both services with those variables (production limits) for its ladder, while the rest of the
run keeps the configured env (limits off); they are restarted as configured after the phase. A
rule's ``window_s`` (clock-aligned windows) makes a ladder that would start near a window's end
wait for the next window."""

from __future__ import annotations

import time
from dataclasses import replace

from harness.models import Difference, ExchangeResult, PreparedRequest, Response
from harness.reporting.results import CaseDone
from harness.run.context import RunContext
from harness.run.steps import started
from harness.setup.contract import Operation, match_operation
from harness.setup.edges import RateLimitRule

__all__ = ["RateLimit", "ladder_differences"]

LABEL = "rate limits (a ladder of requests until 429)"


def _retry(resp: Response, header: str) -> float | None:
    values = resp.header_values(header)
    try:
        return float(values[0]) if values else None
    except ValueError:
        return None


def ladder_differences(
    rule: RateLimitRule, steps: list[tuple[Response, Response]]
) -> list[Difference]:
    """Where the two sides started refusing, and how long each asked to wait."""
    first = {}
    for side in (0, 1):
        first[side] = next(
            (i for i, pair in enumerate(steps) if pair[side].status == rule.status), None
        )
    legacy_at, candidate_at = first[0], first[1]
    if legacy_at != candidate_at:

        def said(at: int | None) -> str:
            return f"request {at + 1}" if at is not None else f"none of {len(steps)}"

        return [
            Difference(
                location="rate_limit",
                kind="status",
                path="rate_limit threshold",
                legacy=said(legacy_at),
                candidate=said(candidate_at),
                summary=f"the first {rule.status}: {said(legacy_at)} vs {said(candidate_at)}",
            )
        ]
    if legacy_at is None:
        return []
    legacy, candidate = steps[legacy_at]
    waits = _retry(legacy, rule.header), _retry(candidate, rule.header)
    if (waits[0] is None) != (waits[1] is None) or (
        waits[0] is not None
        and waits[1] is not None
        and abs(waits[0] - waits[1]) > rule.tolerance_s
    ):
        return [
            Difference(
                location=f"header:{rule.header.lower()}",
                kind="header",
                path=f"rate_limit {rule.header}",
                legacy=legacy.header_values(rule.header),
                candidate=candidate.header_values(rule.header),
                summary=f"{rule.header} of the first {rule.status}: {waits[0]} vs {waits[1]}",
            )
        ]
    return []


class RateLimit:
    name = "ratelimit"

    def execute(self, ctx: RunContext) -> None:
        chosen = [
            (op, next(r for r in ctx.config.rate_limit if match_operation(r.operation, op.id)))
            for op in ctx.selected
            if any(match_operation(r.operation, op.id) for r in ctx.config.rate_limit)
        ]
        if not chosen:
            return
        started(ctx, LABEL, len(chosen))
        managed = ctx.pair.mode == "managed"
        if not managed and any(rule.restart_env for _op, rule in chosen):
            ctx.stats.notes.append(
                "rate limit: restart_env applies in managed mode only; "
                "the services' own limits were climbed"
            )
        # rules with one restart_env share one restart (the plain env first: none needed)
        chosen.sort(key=lambda pair: sorted(pair[1].restart_env.items()))
        env: dict[str, str] = {}
        try:
            for op, rule in chosen:
                if managed and rule.restart_env != env:
                    ctx.pair.restart_services(rule.restart_env)
                    env = rule.restart_env
                self._climb(ctx, op, rule)
        finally:
            if env:
                ctx.pair.restart_services({})  # as configured again

    def _climb(self, ctx: RunContext, op: Operation, rule: RateLimitRule) -> None:
        base, role = _valid_request(ctx, op)
        if base is None:
            ctx.stats.notes.append(f"rate limit: no valid request of {op.id} to repeat")
            return
        req = replace(
            _unsigned(ctx, base),
            role=None if role in (None, "anonymous") else role,
            operation=f"{op.id} [rate limit]",
        )
        if rule.window_s is not None:
            _wait_for_room(rule.window_s, rule.window_margin_s, rule.tolerance_s + 1)
        steps: list[tuple[Response, Response]] = []
        last: ExchangeResult | None = None
        for _ in range(rule.max_requests):
            last = ctx.exchange(req, restore=False)  # the counters stay between steps
            steps.append((last.legacy, last.candidate))
            if last.legacy.status == rule.status and last.candidate.status == rule.status:
                break
        ctx.pair.restore()
        ctx.stats.edges["rate_limit_requests"] += len(steps)
        assert last is not None
        diffs = ladder_differences(rule, steps)
        ctx.findings.record(replace(last, differences=diffs), "probes")
        ctx.listener.case_done(CaseDone(label=LABEL, agreed=not diffs))


def _valid_request(ctx: RunContext, op: Operation) -> tuple[PreparedRequest | None, str | None]:
    """A request of ``op`` that succeeded on both sides earlier in the run, as its role; else
    the first of the operation's positive pool, as a role it succeeded for."""
    for (op_id, succeeded_as), kept in sorted(ctx.stats.successes.items(), key=lambda kv: kv[0]):
        if op_id == op.id and kept:
            return kept[0][0], succeeded_as
    role = next((r for o, r in sorted(ctx.stats.ok_roles) if o == op.id), None)
    return next(iter(ctx.cases.pool(op.id)[:1]), None), role


def _unsigned(ctx: RunContext, req: PreparedRequest) -> PreparedRequest:
    """Without the signature headers the case was generated with (the contract declares them,
    so a generated case carries made-up values): ``[auth.signing]`` signs each step as sent."""
    signer = ctx.pair.transport.signer if ctx.pair.transport is not None else None
    if signer is None or not signer.applies(req.operation):
        return req
    names = {signer.config.signature_header.lower(), (signer.config.timestamp_header or "").lower()}
    return replace(req, headers=tuple((k, v) for k, v in req.headers if k.lower() not in names))


def _wait_for_room(window_s: float, margin_s: float, into_s: float) -> None:
    """Until the clock-aligned window holding now has ``margin_s`` left and ``into_s`` gone: a
    ladder started later could see both sides' counters restart at the boundary mid-climb, and
    one started at a boundary could not tell a clock-aligned window from a window opened by
    the ladder's first request (both would end a whole window later); ``into_s`` past it, the
    two ``Retry-After`` differ by more than the tolerance."""
    into = time.time() % window_s
    if window_s - into < margin_s:  # too close to the end: the next window, ``into_s`` in
        time.sleep(window_s - into + into_s)  # times on the clock, not guesses
    elif into < into_s:
        time.sleep(into_s - into)
