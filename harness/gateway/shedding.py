"""Load-aware shadow shedding: while the legacy is under strain, new shadows are not sent,
so the port's work and the comparisons (which share the legacy's machine) give the CPU back
to the requests clients wait for, the way production mirroring proxies protect the primary.

Two signals, both measured by the gateway itself on the legacy's answers to clients:

- **in flight**: more than ``in_flight`` requests waiting for the legacy's answer
  (instantaneous: a legacy that stalls answers nothing, so no latency could say so);
- **latency**: the p90 of the legacy's last ``window`` answer times, checked each time the
  window fills, above ``latency_factor`` times its calm baseline (the lowest window p90 of
  the last ``baseline_windows`` windows) and above ``latency_min_ms`` (jitter on a fast
  legacy is not strain). Shedding on latency stops when a window's p90 falls back under
  ``RESUME`` of that threshold.

``LoadGuard.shed()`` names the reason a new shadow is shed (``shed_in_flight``,
``shed_latency``) or returns None; the caller counts it like any other dropped shadow."""

from __future__ import annotations

from collections import deque

from harness.setup.gateway import ShedConfig

__all__ = ["RESUME", "SHED_IN_FLIGHT", "SHED_LATENCY", "LoadGuard"]

SHED_IN_FLIGHT = "shed_in_flight"
SHED_LATENCY = "shed_latency"
RESUME = 0.75  # hysteresis: shedding on latency ends below this share of the threshold


class LoadGuard:
    """Fed by the serving loop (one thread): ``started()`` before a request goes to the
    legacy, ``ended(seconds)`` when it is over (None: it failed, no answer time)."""

    def __init__(self, config: ShedConfig) -> None:
        self.config = config
        self.in_flight = 0
        self.slow = False  # the last full window was over the threshold
        self.p90_ms: float | None = None  # the last full window's p90
        self.transitions = 0  # times shedding on latency began
        self._window: list[float] = []
        self._p90s: deque[float] = deque(maxlen=max(1, config.baseline_windows))

    @property
    def baseline_ms(self) -> float | None:
        """The calm baseline: the lowest window p90 remembered (None before one window)."""
        return float(min(self._p90s)) if self._p90s else None

    def threshold_ms(self) -> float | None:
        base = self.baseline_ms
        if base is None or self.config.latency_factor <= 0:
            return None
        return max(base * self.config.latency_factor, self.config.latency_min_ms)

    def started(self) -> None:
        self.in_flight += 1

    def ended(self, seconds: float | None) -> None:
        self.in_flight -= 1
        if seconds is not None:
            self.observe(seconds * 1000)

    def observe(self, ms: float) -> None:
        """One answer time; each full window updates the baseline and the latency state."""
        if not self.config.enabled:
            return
        window = self._window
        window.append(ms)
        if len(window) < self.config.window:
            return
        window.sort()
        p90 = window[min(len(window) - 1, int(0.9 * len(window)))]
        window.clear()
        self.p90_ms = p90
        self._p90s.append(p90)
        limit = self.threshold_ms()
        if limit is None:
            return
        if self.slow:
            self.slow = p90 > limit * RESUME
        elif p90 > limit:
            self.slow = True
            self.transitions += 1

    def shed(self) -> str | None:
        """Why a new shadow is shed now, or None to send it."""
        c = self.config
        if not c.enabled:
            return None
        if c.in_flight and self.in_flight > c.in_flight:
            return SHED_IN_FLIGHT
        if self.slow:
            return SHED_LATENCY
        return None

    def snapshot(self) -> dict[str, object]:
        """For ``/_parity/status``: the signals and the state."""
        return {
            "legacy_in_flight": self.in_flight,
            "legacy_p90_ms": None if self.p90_ms is None else round(self.p90_ms, 2),
            "baseline_p90_ms": None if self.baseline_ms is None else round(self.baseline_ms, 2),
            "shedding": self.shed(),
        }
