"""Realtime: both services' event streams, compared while the same writes happen on both.

Each role (and an anonymous client) subscribes to each side's channel (a WebSocket, the
path from ``[realtime]`` or the AsyncAPI document), then the phase replays every write
operation as each role that may call it (requests that already succeeded on both sides,
with real rows' ids for path parameters) on both targets, one at a time, without restoring
in between (a restore would rewind the events a stream follows). After each write it
collects what every subscriber received (a moment for the write's events, a fifth of
``quiet_ms``; until the streams have been quiet for ``quiet_ms`` while a role's two streams
hold different counts), and compares the two sides' messages per role after the usual
normalization: a missing or an extra message, another order, another payload. An event the
candidate sends to a role the legacy does not (a leak to another unit) is an ``extra`` on
that role's stream. Each finding names the write that caused it.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import replace

from harness.models import PreparedRequest
from harness.reporting.results import CaseDone, OperationStarted
from harness.run.context import RunContext
from harness.run.streams import (
    OPERATION,
    Subscriber,
    compare_stream,
    settle,
    stream_headers,
    wait_quiet,
)
from harness.setup.contract import match_operation

__all__ = ["Realtime", "Subscriber"]

LABEL = "realtime (event streams)"


class Realtime:
    name = "realtime"

    def execute(self, ctx: RunContext) -> None:
        cfg = ctx.config.realtime
        if cfg is None or not cfg.path:
            return
        writes = self._writes(ctx)
        if not writes:
            ctx.stats.notes.append("realtime: no write case to cause events")
            return
        # every configured role subscribes (those that send no cases too: another unit's
        # users are who a leak would reach), and an anonymous client
        auth = ctx.config.auth
        roles: list[str | None] = [*(auth.roles if auth else []), None]
        rules = ctx.rules(OPERATION.format(path=cfg.path))
        started = time.perf_counter()
        ctx.listener.operation_started(OperationStarted(label=LABEL, total=len(writes)))
        with ExitStack() as stack:
            stack.enter_context(ctx.pair.holding_restarts())  # the streams stay open
            subs: dict[tuple[str | None, str], Subscriber] = {}
            for role in roles:
                for side in ("legacy", "candidate"):
                    sub = Subscriber(self._url(ctx, side, cfg.path), self._auth(ctx, side, role))
                    subs[(role, side)] = stack.enter_context(sub.running())
            quiet, limit = cfg.quiet_ms / 1000, cfg.timeout_s
            wait_quiet(list(subs.values()), quiet, limit)  # the greeting, if any
            greeting = {key: sub.take() for key, sub in subs.items()}
            for role in roles:
                lm, cm = greeting[(role, "legacy")], greeting[(role, "candidate")]
                compare_stream(ctx, rules, role, lm, cm, None, cfg.path)
            # after a write: a moment for its events, then quiet only while a role's two
            # streams hold different counts (agreeing streams do not cost quiet_ms a write)
            pairs = [(subs[(role, "legacy")], subs[(role, "candidate")]) for role in roles]
            grace = min(quiet, max(0.05, quiet / 5))
            try:
                for req, cand in writes:
                    result = ctx.exchange(req, cand, restore=False)
                    settle(pairs, grace, quiet, limit)
                    seen = {key: sub.take() for key, sub in subs.items()}
                    ctx.stats.realtime["writes"] += 1
                    ctx.stats.realtime["succeeded"] += int(
                        200 <= result.legacy.status < 300 and 200 <= result.candidate.status < 300
                    )
                    if "{" in req.operation and any(seen.values()):
                        # an event from a write on an existing row (ids from the rows phase)
                        ctx.stats.realtime["row_writes_with_events"] += 1
                    agreed = True
                    for role in roles:
                        lm, cm = seen[(role, "legacy")], seen[(role, "candidate")]
                        ctx.stats.realtime["messages"] += len(lm) + len(cm)
                        agreed &= not compare_stream(ctx, rules, role, lm, cm, result, cfg.path)
                    ctx.listener.case_done(CaseDone(label=LABEL, agreed=agreed))
            finally:
                ctx.pair.restore()
        ctx.pair.timings.realtime += time.perf_counter() - started

    def _writes(self, ctx: RunContext) -> list[tuple[PreparedRequest, PreparedRequest | None]]:
        """Every write operation, as each role that may call it: a request that already
        succeeded on both sides for that role (with the ids of real rows, those with path
        parameters too), at least ``writes_per_operation`` in all; an operation nothing
        succeeded on is sent from its pool as the first role when its path has no parameter.
        Deletes and
        session-ending operations come last (their rows and sessions are gone after)."""
        first = ctx.roles()[0]
        per_operation = ctx.config.realtime.writes_per_operation if ctx.config.realtime else 0
        auth = ctx.config.auth
        roles = [*(auth.roles if auth else []), "anonymous"]
        out: list[tuple[int, PreparedRequest, PreparedRequest | None]] = []
        for op in ctx.selected:
            if op.method in ("GET", "HEAD", "OPTIONS") or op.api is None:
                continue
            logins = auth.login_operations() if auth is not None else []
            if any(match_operation(login, op.id) for login in logins):
                continue  # a login writes a session, not an event; the harness's own logins
            last = int(op.method == "DELETE") + 2 * int(ctx.ends_session(op.id))
            # one request per role that may call it, then more of the first such role's up
            # to writes_per_operation (each write waits for the streams to go quiet)
            kept = [ctx.stats.successes.get((op.id, role), []) for role in roles]
            known = [k[0] for k in kept if k]
            more = next((k[1:] for k in kept if k), [])
            known += more[: max(0, per_operation - len(known))]
            if known:
                out += [(last, req, cand) for req, cand in known]
            elif "{" not in op.path:
                pool = ctx.cases.pool(op.id)
                out += [(last, replace(c, role=first), None) for c in pool[:per_operation]]
        return [(req, cand) for _, req, cand in sorted(out, key=lambda item: item[0])]

    def _url(self, ctx: RunContext, side: str, path: str) -> str:
        base = ctx.pair.targets[side].base_url
        origin = base.split("://", 1)[1].split("/", 1)[0]
        return f"ws://{origin}{path}"

    def _auth(self, ctx: RunContext, side: str, role: str | None) -> dict[str, str]:
        return stream_headers(ctx, side, role)
