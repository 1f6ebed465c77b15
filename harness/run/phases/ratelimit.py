"""Rate limits (issue 27): for each ``[[rate_limit]]`` operation, its valid request sent again
and again to both sides at once until both refuse (``429``) or the ladder ends; the step at
which each side first refused and the ``Retry-After`` each gave are compared (the latter
within ``tolerance_s``, since the two clocks tick apart). It runs last, so the counters it
fills starve no other phase; the services' limits for the run come from their own settings."""

from __future__ import annotations

from dataclasses import replace

from harness.models import Difference, ExchangeResult, Response
from harness.reporting.results import CaseDone
from harness.run.context import RunContext
from harness.run.steps import started
from harness.setup.contract import match_operation
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
        for op, rule in chosen:
            base = next(iter(ctx.cases.pool(op.id)[:1]), None)
            if base is None:
                ctx.stats.notes.append(f"rate limit: no valid request of {op.id} to repeat")
                continue
            role = next((r for o, r in sorted(ctx.stats.ok_roles) if o == op.id), None)
            req = replace(
                base,
                role=None if role in (None, "anonymous") else role,
                operation=f"{op.id} [rate limit]",
            )
            steps: list[tuple[Response, Response]] = []
            last: ExchangeResult | None = None
            for _ in range(rule.max_requests):
                last = ctx.exchange(req)
                steps.append((last.legacy, last.candidate))
                if last.legacy.status == rule.status and last.candidate.status == rule.status:
                    break
            ctx.stats.edges["rate_limit_requests"] += len(steps)
            assert last is not None
            diffs = ladder_differences(rule, steps)
            ctx.findings.record(replace(last, differences=diffs), "probes")
            ctx.listener.case_done(CaseDone(label=LABEL, agreed=not diffs))
