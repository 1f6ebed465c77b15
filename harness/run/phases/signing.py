"""What a signed endpoint must refuse (issue 27, ``[auth.signing]``): for each signed
operation, one of its valid requests sent without a signature, with a signature over other
bytes, with a timestamp outside the replay window, and signed once and sent twice (the
second is the replay). Both sides get the same bytes and headers; their answers and writes
are compared as any case's, so a port that accepts what the legacy refuses is drift."""

from __future__ import annotations

from dataclasses import replace

from harness.run.context import RunContext
from harness.run.steps import run_steps, started

__all__ = ["Signing"]

LABEL = "signing (missing, bad, stale, replayed signatures)"


class Signing:
    name = "signing"

    def execute(self, ctx: RunContext) -> None:
        transport = ctx.pair.transport
        signer = transport.signer if transport is not None else None
        if signer is None:
            return
        plans = []
        for op in ctx.selected:
            if not signer.applies(op.id):
                continue
            base = next(iter(ctx.cases.pool(op.id)[:1]), None)
            if base is None:
                ctx.stats.notes.append(f"signing: no valid request of {op.id} to vary")
                continue
            role = next((r for o, r in sorted(ctx.stats.ok_roles) if o == op.id), None)
            base = replace(base, role=None if role in (None, "anonymous") else role)
            cases = [("missing signature", replace(base, mode="unsigned"))]
            cases += signer.negative_cases(base)
            for label, req in cases:
                named = replace(req, operation=f"{op.id} [{label}]")
                # a replay is the same signed request twice: the first is accepted
                plans.append([named, named] if label == "replayed signature" else [named])
        if not plans:
            return
        started(ctx, LABEL, len(plans))
        for steps in plans:
            run_steps(ctx, LABEL, steps)
        ctx.stats.edges["signing"] += len(plans)
