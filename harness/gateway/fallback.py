"""When the legacy may answer for a port that failed, and when it must not.

A safe method (GET, HEAD, OPTIONS, TRACE) changes nothing, so the legacy may answer it
whenever the port fails, as long as the route's total budget has time left. An unsafe method
may go to the legacy only when the request provably never reached the port: the connection
attempt failed on a fresh connection, or no connection was ever obtained. Any failure after
the request could have been sent (a read timeout, a reset, a broken answer) is ambiguous: the
port may have applied the write, so a retry could apply it twice. The client gets an error
with the correlation id, the failure is counted, nothing is retried.

``decide`` is the rule as a pure function; ``serve`` applies it over httpx for the app.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import httpx

from harness.errors import HarnessError
from harness.gateway.breaker import Breaker

__all__ = [
    "SAFE_METHODS",
    "Budget",
    "Counters",
    "Decision",
    "FailureKind",
    "Served",
    "classify",
    "decide",
    "serve",
]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

#: ``unsent``: the request never left (connect refused or timed out on a fresh connection,
#: no pooled connection in time); ``ambiguous``: it may have reached the port;
#: ``status``: the port answered with a 5xx status.
FailureKind = Literal["unsent", "ambiguous", "status"]
Action = Literal["port", "legacy", "error"]


@dataclass(frozen=True)
class Budget:
    """Seconds per route: each side's own timeout, and the most the client waits in all."""

    port_s: float = 5.0
    legacy_s: float = 10.0
    total_s: float = 12.0

    def __post_init__(self) -> None:
        if min(self.port_s, self.legacy_s, self.total_s) <= 0:
            raise HarnessError("gateway budget: every timeout must be > 0 seconds")
        if self.port_s > self.total_s:
            raise HarnessError(
                f"gateway budget: the port's timeout ({self.port_s:g} s) exceeds the total "
                f"({self.total_s:g} s), so no time would be left for a fallback"
            )


@dataclass(frozen=True)
class Decision:
    """What to do with a failed port request: answer from the legacy, or an error."""

    action: Action
    reason: str
    status: int = 0  # the error status when action == "error"


def classify(exc: BaseException) -> FailureKind:
    """Whether an httpx failure proves the request never reached the port."""
    # ConnectError/ConnectTimeout only arise while opening a new connection (httpcore),
    # before a byte of the request is written; PoolTimeout means no connection at all.
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return "unsent"
    return "ambiguous"


def decide(
    method: str, kind: FailureKind, remaining_s: float, min_legacy_s: float = 0.05
) -> Decision:
    """The fallback rule (pure): who answers the client after the port failed."""
    safe = method.upper() in SAFE_METHODS
    if kind == "status" and not safe:
        # the port answered: its answer is the truth of what it did, replaying would double it
        return Decision("port", "unsafe method answered with an error by the port: passed on")
    if safe or kind == "unsent":
        if remaining_s < min_legacy_s:
            return Decision("error", "port failed and the route's budget is spent", 504)
        why = "safe method" if safe else "the request never reached the port"
        return Decision("legacy", f"{why}: answered by the legacy")
    return Decision(
        "error", "the request may have reached the port (failed after sending): not retried", 502
    )


@dataclass
class Served:
    """The answer the client gets, who produced it, and what happened on the way."""

    response: httpx.Response | None
    side: Literal["port", "legacy"] | None
    fallback: str | None = None  # why the legacy answered instead of the port
    error: Decision | None = None  # set when the client gets an error (response is None)
    port_error: str | None = None


@dataclass
class Counters:
    """Per-route counts of fallbacks and refusals, for the metrics and the report."""

    fallbacks: Counter[str] = field(default_factory=Counter)
    ambiguous: Counter[str] = field(default_factory=Counter)
    budget_spent: Counter[str] = field(default_factory=Counter)
    breaker_open: Counter[str] = field(default_factory=Counter)


SendFn = Callable[[float], Awaitable[httpx.Response]]


async def serve(
    route: str,
    method: str,
    send_port: SendFn,
    send_legacy: SendFn,
    *,
    budget: Budget,
    breaker: Breaker | None = None,
    counters: Counters | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Served:
    """Send to the port; on failure apply ``decide``. Each ``send`` takes its timeout in seconds
    and must pass it to httpx (so that a connect failure stays a ``ConnectError``)."""
    counters = counters if counters is not None else Counters()
    started = clock()
    if breaker is not None and not breaker.allow():
        counters.breaker_open[route] += 1
        counters.fallbacks[route] += 1
        response = await _legacy(send_legacy, budget, budget.total_s)
        return Served(response, "legacy", fallback="breaker open")
    kind: FailureKind
    try:
        async with asyncio.timeout(budget.port_s):
            response = await send_port(budget.port_s)
    except (httpx.HTTPError, TimeoutError) as exc:
        kind = classify(exc)
        port_error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        answer = None
    else:
        if response.status_code < 500:
            if breaker is not None:
                breaker.success()
            return Served(response, "port")
        kind = "status"
        port_error = f"port answered {response.status_code}"
        answer = response
    if breaker is not None:
        breaker.failure(port_error)
    remaining = budget.total_s - (clock() - started)
    decision = decide(method, kind, remaining)
    if decision.action == "port":
        return Served(answer, "port", port_error=port_error)
    if answer is not None:
        await answer.aclose()
    if decision.action == "error":
        (counters.ambiguous if decision.status == 502 else counters.budget_spent)[route] += 1
        return Served(None, None, error=decision, port_error=port_error)
    counters.fallbacks[route] += 1
    response = await _legacy(send_legacy, budget, remaining)
    return Served(response, "legacy", fallback=decision.reason, port_error=port_error)


async def _legacy(send_legacy: SendFn, budget: Budget, remaining: float) -> httpx.Response:
    timeout = max(0.001, min(budget.legacy_s, remaining))
    async with asyncio.timeout(timeout):
        return await send_legacy(timeout)
