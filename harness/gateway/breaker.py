"""A circuit breaker per route, in front of the port.

Closed: requests go to the port; N consecutive failures, or an error rate at or above a
threshold over a sliding window (with a minimum volume), open it. Open: the legacy serves
everything until ``open_s`` has passed. Half-open: one probe at a time goes to the port
(everyone else stays on the legacy); a success closes the breaker, a failure reopens it.

Why not purgatory (the issue's first choice): it counts only consecutive failures (no error
rate over a window), lets every request through while half-open instead of one probe, reads
``time.time()`` directly (no injected clock, so tests would have to sleep) and routes every
call through an async message bus. This state machine is the part of it the gateway needs,
with those three gaps closed and its state readable without an await.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from harness.errors import HarnessError

__all__ = ["Breaker", "BreakerSettings", "BreakerState", "Breakers", "Transition"]

BreakerState = Literal["closed", "open", "half-open"]
HISTORY = 20  # transitions kept in a snapshot (the report shows them)


@dataclass(frozen=True)
class BreakerSettings:
    """When the breaker opens and how long it stays open."""

    consecutive: int = 5
    error_rate: float = 0.5
    window_s: float = 30.0
    min_requests: int = 20
    open_s: float = 10.0
    probe_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.consecutive < 1 or self.min_requests < 1:
            raise HarnessError("gateway breaker: consecutive and min_requests must be >= 1")
        if not 0 < self.error_rate <= 1:
            raise HarnessError("gateway breaker: error_rate must be in (0, 1]")
        if self.window_s <= 0 or self.open_s <= 0 or self.probe_timeout_s <= 0:
            raise HarnessError("gateway breaker: window_s, open_s, probe_timeout_s must be > 0")


@dataclass(frozen=True)
class Transition:
    """One change of state, for the log, the metrics and the report."""

    route: str
    at: float
    before: BreakerState
    after: BreakerState
    reason: str


@dataclass
class Breaker:
    """One route's breaker. Call ``allow()`` before sending to the port; report the outcome."""

    route: str
    settings: BreakerSettings = field(default_factory=BreakerSettings)
    clock: Callable[[], float] = time.monotonic
    on_transition: Callable[[Transition], None] | None = None
    state: BreakerState = "closed"
    consecutive_failures: int = 0
    opened_at: float | None = None
    probe_started: float | None = None
    transitions: list[Transition] = field(default_factory=list)
    _window: deque[tuple[float, bool]] = field(default_factory=deque)

    def allow(self) -> bool:
        """May this request go to the port? False means: serve it from the legacy."""
        now = self.clock()
        if self.state == "closed":
            return True
        if self.state == "open":
            assert self.opened_at is not None
            if now - self.opened_at < self.settings.open_s:
                return False
            self._move("half-open", now, f"open for {self.settings.open_s:g} s: probing")
        # half-open: one probe in flight at a time (a lost probe is given up after a while)
        if (
            self.probe_started is not None
            and now - self.probe_started < self.settings.probe_timeout_s
        ):
            return False
        self.probe_started = now
        return True

    def success(self) -> None:
        now = self.clock()
        self._record(now, ok=True)
        self.consecutive_failures = 0
        if self.state == "half-open":
            self.probe_started = None
            self._move("closed", now, "probe succeeded")

    def failure(self, reason: str = "port failed") -> None:
        now = self.clock()
        self._record(now, ok=False)
        self.consecutive_failures += 1
        if self.state == "half-open":
            self.probe_started = None
            self._open(now, f"probe failed: {reason}")
        elif self.state == "closed":
            if self.consecutive_failures >= self.settings.consecutive:
                self._open(now, f"{self.consecutive_failures} consecutive failures ({reason})")
                return
            total = len(self._window)
            if total >= self.settings.min_requests:
                failed = sum(1 for _, ok in self._window if not ok)
                if failed / total >= self.settings.error_rate:
                    self._open(
                        now,
                        f"error rate {failed}/{total} over {self.settings.window_s:g} s "
                        f">= {self.settings.error_rate:.0%}",
                    )

    def snapshot(self) -> dict[str, Any]:
        """The exported state (metrics, admin API, report)."""
        now = self.clock()
        self._trim(now)
        total = len(self._window)
        failed = sum(1 for _, ok in self._window if not ok)
        return {
            "route": self.route,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "window_requests": total,
            "window_failures": failed,
            "transitions": len(self.transitions),
            "last_reason": self.transitions[-1].reason if self.transitions else None,
            "history": [
                {
                    # the clock may be monotonic: placed on the wall clock for the report
                    "at": datetime.fromtimestamp(time.time() - (now - t.at), UTC).isoformat(),
                    "before": t.before,
                    "after": t.after,
                    "reason": t.reason,
                }
                for t in self.transitions[-HISTORY:]
            ],
        }

    def _record(self, now: float, *, ok: bool) -> None:
        self._window.append((now, ok))
        self._trim(now)

    def _trim(self, now: float) -> None:
        horizon = now - self.settings.window_s
        while self._window and self._window[0][0] < horizon:
            self._window.popleft()

    def _open(self, now: float, reason: str) -> None:
        self.opened_at = now
        self._window.clear()
        self._move("open", now, reason)

    def _move(self, after: BreakerState, now: float, reason: str) -> None:
        transition = Transition(self.route, now, self.state, after, reason)
        self.state = after
        if after == "closed":
            self.opened_at = None
            self.consecutive_failures = 0
        self.transitions.append(transition)
        if self.on_transition is not None:
            self.on_transition(transition)


class Breakers:
    """The breakers of all routes, created on first use with one set of settings."""

    def __init__(
        self,
        settings: BreakerSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[Transition], None] | None = None,
        per_route: dict[str, BreakerSettings] | None = None,
    ) -> None:
        self.settings = settings or BreakerSettings()
        self.per_route = per_route or {}
        self.clock = clock
        self.on_transition = on_transition
        self._by_route: dict[str, Breaker] = {}

    def __getitem__(self, route: str) -> Breaker:
        breaker = self._by_route.get(route)
        if breaker is None:
            breaker = Breaker(
                route,
                self.per_route.get(route, self.settings),
                clock=self.clock,
                on_transition=self.on_transition,
            )
            self._by_route[route] = breaker
        return breaker

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {route: b.snapshot() for route, b in sorted(self._by_route.items())}
