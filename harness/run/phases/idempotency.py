"""Idempotency keys (issue 27): each probed operation's valid request sent twice with one
key (the second must answer as the first and write nothing more), twice at once with one key
(one write), and a key sent with one body and again with another (the documented refusal,
often 409). Both sides get the
same keys and bytes; the answers and the writes of the whole sequence are compared, so a
port that writes twice, or answers the second body, differs from a legacy that does not."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from harness.models import PreparedRequest
from harness.run.context import RunContext
from harness.run.steps import run_steps, started
from harness.setup.contract import Operation, match_operation

__all__ = ["Idempotency", "key_header"]

LABEL = "idempotency (a key replayed, sent twice at once, reused with another body)"
_DECLARED = re.compile(r"^idempotency[-_]?key$", re.IGNORECASE)


def key_header(ctx: RunContext, op: Operation) -> str | None:
    """The header ``op`` takes its idempotency key in: configured, or declared."""
    for rule in ctx.config.idempotency:
        if match_operation(rule.operation, op.id):
            return rule.header
    item: Any = ctx.contract.raw.get("paths", {}).get(op.path, {})
    params = list(item.get("parameters", [])) + list(
        item.get(op.method.lower(), {}).get("parameters", [])
    )
    for param in params:
        if isinstance(param, dict) and param.get("in") == "header":
            name = str(param.get("name", ""))
            if _DECLARED.match(name):
                return name
    return None


def _keyed(req: PreparedRequest, header: str, key: str, label: str) -> PreparedRequest:
    kept = tuple((k, v) for k, v in req.headers if k.lower() != header.lower())
    return replace(req, headers=(*kept, (header, key)), operation=f"{req.operation} [{label}]")


class Idempotency:
    name = "idempotency"

    def execute(self, ctx: RunContext) -> None:
        plans: list[tuple[list[PreparedRequest], bool]] = []
        for op in ctx.selected:
            header = key_header(ctx, op)
            if header is None:
                continue
            pool = [c for c in ctx.cases.pool(op.id) if c.content]
            if not pool:
                ctx.stats.notes.append(f"idempotency: no valid request of {op.id} to repeat")
                continue
            role = next((r for o, r in sorted(ctx.stats.ok_roles) if o == op.id), None)
            base = replace(pool[0], role=None if role in (None, "anonymous") else role)
            key = f"parity-{ctx.seed}-{len(plans)}"
            again = _keyed(base, header, key, "key replayed")
            plans.append(([again, again], False))
            # two at once with one key, then once more: the state shows how many it wrote
            key = f"parity-{ctx.seed}-{len(plans)}"
            both = _keyed(base, header, key, "key sent twice at once")
            plans.append(([both, both], True))
            other = next((c for c in pool[1:] if c.content != base.content), None)
            if other is None:
                ctx.stats.notes.append(f"idempotency: {op.id} has no second body to conflict")
                continue
            key = f"parity-{ctx.seed}-{len(plans)}"
            first = _keyed(base, header, key, "key with another body")
            second = _keyed(replace(other, role=base.role), header, key, "key with another body")
            plans.append(([first, second], False))
        if not plans:
            return
        started(ctx, LABEL, len(plans))
        for steps, concurrent in plans:
            run_steps(ctx, LABEL, steps, concurrent=concurrent)
        ctx.stats.edges["idempotency"] += len(plans)
