"""Load-aware shadow shedding: while the legacy is under strain, fewer new shadows are
sent, so the port's work and the comparisons (which share the legacy's machine) give the CPU
back to the requests clients wait for, the way production mirroring proxies protect the
primary, yet a strained legacy keeps a sample of comparisons.

Two signals, both measured by the gateway itself on the legacy's answers to clients:

- **in flight**: more than ``in_flight`` requests waiting for the legacy's answer
  (instantaneous: a legacy that stalls answers nothing, so no latency could say so): only
  the ``floor`` share of new shadows is sent while it lasts;
- **latency**: the p90 of the legacy's last ``window`` answer times, checked each time the
  window fills, above ``latency_factor`` times its calm baseline (the lowest window p90 of
  the last ``baseline_windows`` windows) and above ``latency_min_ms`` (jitter on a fast
  legacy is not strain). Each window over that threshold multiplies the share of shadows
  sent by ``step_down`` (down to ``floor``); each window back under ``RESUME`` of it adds
  ``step_up`` (multiplicative decrease, additive increase, as TCP's congestion window);
  shedding on latency ends when the share is back at 1.

The share is kept exactly, not drawn at random: a credit grows by the share with each new
shadow and one is sent each time it reaches 1 (a share of 0.25 sends every fourth).

- **cost** (``budget`` > 0): the p90 of the clients' answer times (arrival to last byte)
  while a shadow was in flight (its own or another's) against the p90 while none was, each
  window; while the
  difference is over ``budget`` the share of shadows sent steps down, under half of it back
  up. With every read shadowed there is nothing to compare with: new shadows are held back
  until ``probe`` answers came with none in flight (at most a window of them).

``LoadGuard.shed()`` names the reason a new shadow is shed (``shed_in_flight``,
``shed_latency``, ``shed_cost``) or returns None; the caller counts it like any other dropped
shadow."""

from __future__ import annotations

from collections import deque

from harness.setup.gateway import ShedConfig

__all__ = ["RESUME", "SHED_COST", "SHED_IN_FLIGHT", "SHED_LATENCY", "LoadGuard"]

SHED_IN_FLIGHT = "shed_in_flight"
SHED_LATENCY = "shed_latency"
SHED_COST = "shed_cost"
MIN_SAMPLES = 16  # answers each way a cost window needs
RESUME = 0.75  # hysteresis: the share steps back up only below this share of the threshold


class LoadGuard:
    """Fed by the serving loop (one thread): ``started()`` before a request goes to the
    legacy, ``ended(seconds)`` when it is over (None: it failed, no answer time)."""

    def __init__(self, config: ShedConfig) -> None:
        self.config = config
        self.in_flight = 0
        self.share = 1.0  # the share of new shadows sent on the latency signal (1: all)
        self.p90_ms: float | None = None  # the last full window's p90
        self.transitions = 0  # times shedding on latency began
        self._credit = 0.0
        self._window: list[float] = []
        self._p90s: deque[float] = deque(maxlen=max(1, config.baseline_windows))
        # the cost signal: answer times with and without a shadow in flight
        self.cost_share = 1.0
        self.cost: float | None = None  # the last window's p90 with / without, minus 1
        self._with: deque[float] = deque(maxlen=max(MIN_SAMPLES, config.window))
        self._without: deque[float] = deque(maxlen=max(MIN_SAMPLES, config.window))
        self._counted = 0
        self._probe = 0  # answers without a shadow in flight still wanted
        self._probe_left = 0  # new shadows the probe may still hold back

    @property
    def slow(self) -> bool:
        """Shedding on latency: the share is under 1."""
        return self.share < 1.0

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

    def served(self, ms: float, shadowed: bool) -> None:
        """A client answered in ``ms`` (from its request's arrival to the last byte sent);
        ``shadowed``: a shadow was in flight meanwhile (the cost signal). The client's time,
        not the legacy's alone: a gateway busy with shadows delays answers too."""
        c = self.config
        if not c.enabled or c.budget <= 0:
            return
        (self._with if shadowed else self._without).append(ms)
        if not shadowed and self._probe:
            self._probe -= 1
        self._counted += 1
        if self._counted % c.window:
            return
        if len(self._without) < MIN_SAMPLES:  # every read shadowed: hold shadows back
            # until the ones in flight are done and `probe` answers came without any (at
            # most a window of them: a shadow that never ends must not stop them all)
            self._probe, self._probe_left = c.probe, c.window
            return
        if len(self._with) < MIN_SAMPLES:
            return
        cost = _p90(list(self._with)) / max(_p90(list(self._without)), 1e-6) - 1
        self.cost = cost
        if cost > c.budget:
            if self.cost_share >= 1.0:
                self._credit = 0.0
            self.cost_share = max(c.floor, self.cost_share * c.step_down)
        elif cost < c.budget / 2 and self.cost_share < 1.0:
            self.cost_share = min(1.0, self.cost_share + c.step_up)

    def observe(self, ms: float) -> None:
        """One answer time; each full window updates the baseline and the share sent."""
        c = self.config
        if not c.enabled:
            return
        window = self._window
        window.append(ms)
        if len(window) < c.window:
            return
        window.sort()
        p90 = window[min(len(window) - 1, int(0.9 * len(window)))]
        window.clear()
        self.p90_ms = p90
        self._p90s.append(p90)
        limit = self.threshold_ms()
        if limit is None:
            return
        if p90 > limit:
            if not self.slow:
                self.transitions += 1
                self._credit = 0.0
            self.share = max(c.floor, self.share * c.step_down)
            if self.share >= 1.0:  # step_down 1 and floor 1: nothing is ever shed
                self.share = 1.0
        elif self.slow and p90 <= limit * RESUME:
            self.share = min(1.0, self.share + c.step_up)
            if not self.slow:
                self._credit = 0.0

    def _reason(self) -> tuple[str, float] | None:
        """The signal under strain now and the share of shadows it lets through."""
        c = self.config
        if not c.enabled:
            return None
        if c.in_flight and self.in_flight > c.in_flight:
            return SHED_IN_FLIGHT, min(c.floor, self.share)
        if self.slow and self.share <= self.cost_share:
            return SHED_LATENCY, self.share
        if self.cost_share < 1.0:
            return SHED_COST, self.cost_share
        return None

    def shed(self) -> str | None:
        """Why a new shadow is shed now, or None to send it (under strain: one in every
        1/share, the share kept exactly by a credit)."""
        if self._probe and self._probe_left and self.config.enabled:  # answers to compare with
            self._probe_left -= 1
            return SHED_COST
        strain = self._reason()
        if strain is None:
            return None
        self._credit += strain[1]
        if self._credit >= 1.0:
            self._credit -= 1.0
            return None
        return strain[0]

    def snapshot(self) -> dict[str, object]:
        """For ``/_parity/status``: the signals and the state (without using a credit)."""
        strain = self._reason()
        return {
            "legacy_in_flight": self.in_flight,
            "legacy_p90_ms": None if self.p90_ms is None else round(self.p90_ms, 2),
            "baseline_p90_ms": None if self.baseline_ms is None else round(self.baseline_ms, 2),
            "shedding": None if strain is None else strain[0],
            "share_sent": 1.0 if strain is None else round(strain[1], 4),
            "cost": None if self.cost is None else round(self.cost, 3),
        }


def _p90(values: list[float]) -> float:
    values.sort()
    return values[min(len(values) - 1, int(0.9 * len(values)))]
