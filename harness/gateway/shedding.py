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

- **cost** (``budget`` > 0, 0.1 by default): what the shadows cost the clients, measured by
  pausing them. Shadows are sent for an *on* period, then held back for an *off* period: the
  off period first waits for the shadows in flight to end and lets as long again pass (the
  port's and the comparison worker's queued work), then collects ``probe`` clients' answer
  times (arrival to last byte). The p90 of the last ``probe`` answers before the pause
  against the pause's, minus 1, is a reading (the two samples alike in size and next to each
  other in time: a larger, longer on sample read +5% with no shadow at all). One reading is
  noisy (sd 0.15 to 0.3 at 8 connections on the shipped pair), so readings are smoothed
  (``SMOOTHING``) into an estimate of the cost at the share sent now, and the share moves
  toward ``AIM`` of the budget in proportion (the cost goes with the share): down by
  ``step_down`` at most a pause, up by ``RISE`` at most; the estimate follows each step at
  once. Answers that merely overlap a shadow cannot show the cost: on a busy machine every
  answer overlaps one, and the port and the worker slow the legacy through the CPU they
  share whether or not one is in flight. An on period lasts at least a ``window`` of answers
  and four times the last off period, twice as long (up to eight times) after each calm
  verdict with every shadow sent, so a calm gateway holds few shadows back.

``LoadGuard.shed()`` names the reason a new shadow is shed (``shed_in_flight``,
``shed_latency``, ``shed_cost``) or returns None; the caller counts it like any other dropped
shadow."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from harness.setup.gateway import ShedConfig

__all__ = [
    "AIM",
    "RESUME",
    "RISE",
    "SHED_COST",
    "SHED_IN_FLIGHT",
    "SHED_LATENCY",
    "SMOOTHING",
    "LoadGuard",
]

SHED_IN_FLIGHT = "shed_in_flight"
SHED_LATENCY = "shed_latency"
SHED_COST = "shed_cost"
MIN_SAMPLES = 16  # answers each way a cost window needs
SETTLE_S = 0.05  # an off period waits at least this after the shadows in flight ended
MAX_SPACING = 8  # a calm on period grows up to this many times its shortest
SMOOTHING = 0.15  # each pause's reading moves the cost estimate this far (a reading is noisy)
RISE = 1.1  # the cost signal raises the share by this factor a pause at most (down: step_down)
AIM = 0.4  # a step aims the cost at this share of the budget
RESUME = 0.75  # hysteresis: the share steps back up only below this share of the threshold


class LoadGuard:
    """Fed by the serving loop (one thread): ``started()`` before a request goes to the
    legacy, ``ended(seconds)`` when it is over (None: it failed, no answer time)."""

    def __init__(self, config: ShedConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.in_flight = 0
        self.share = 1.0  # the share of new shadows sent on the latency signal (1: all)
        self.p90_ms: float | None = None  # the last full window's p90
        self.transitions = 0  # times shedding on latency began
        self._credit = 0.0
        self._window: list[float] = []
        self._p90s: deque[float] = deque(maxlen=max(1, config.baseline_windows))
        # the cost signal: client answer times in on periods against off periods
        self.cost_share = 1.0
        self.cost: float | None = None  # the last verdict's p90 on / off, minus 1
        self._clock = clock
        self._off = False  # in an off period: new shadows held back
        self._phase_at = clock()  # when the current period began
        self._drained_at: float | None = None  # off: when the first answer without came
        self._held = 0  # off: shadows held back so far
        self._on: deque[float] = deque(maxlen=max(config.probe, MIN_SAMPLES))  # the last
        self._on_n = 0  # answers timed in this on period (past its ramp)
        self._estimate: float | None = None  # the cost at the share sent now, smoothed
        self._off_times: list[float] = []
        self._off_s = 0.0  # the last off period's length
        self._spacing = 1

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
        now = self._clock()
        if not self._off:
            if now - self._phase_at >= self._off_s:  # past the ramp after an off period
                self._on.append(ms)
                self._on_n += 1
            long_enough = now - self._phase_at >= 4 * self._off_s * self._spacing
            if self._on_n >= max(MIN_SAMPLES, c.window) and long_enough:
                self._off, self._phase_at, self._drained_at, self._held = True, now, None, 0
            return
        if shadowed:  # the shadows sent before the pause are still in flight
            return
        if self._drained_at is None:
            self._drained_at = now
        settle = max(SETTLE_S, self._drained_at - self._phase_at)
        if now - self._drained_at < settle:
            return
        self._off_times.append(ms)
        if len(self._off_times) >= max(c.probe, MIN_SAMPLES):
            self._verdict(now)

    def _verdict(self, now: float) -> None:
        """An off period is over: set its answers against the on period's before it."""
        c = self.config
        reading = _p90(list(self._on)) / max(_p90(self._off_times), 1e-6) - 1
        self.cost = reading
        est = self._estimate
        est = reading if est is None else est + SMOOTHING * (reading - est)
        old = self.cost_share
        aim = c.budget * AIM
        # toward the aim in proportion (the cost goes with the share): down by step_down,
        # up by RISE at most a pause
        step = RISE if est <= 0 else max(c.step_down, min(RISE, aim / est))
        self.cost_share = max(c.floor, min(1.0, old * step))
        if est > c.budget:
            self._spacing = 1
        elif est < c.budget / 2 and old >= 1.0:  # calm at full share: pause less often
            self._spacing = min(MAX_SPACING, self._spacing * 2)
        if old >= 1.0 > self.cost_share:
            self._credit = 0.0
        # the shadows' cost goes with their share: the estimate follows the step at once
        # (never under 0: a pause that ran slower says nothing of a share twice as large)
        self._estimate = max(0.0, est) * self.cost_share / old
        self._end_off(now)

    def _end_off(self, now: float) -> None:
        self._off_s = now - self._phase_at
        self._off, self._phase_at = False, now
        self._on.clear()
        self._on_n, self._off_times = 0, []

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
        if self._off and self.config.enabled:  # a pause: answers to compare with
            self._held += 1
            if self._drained_at is not None:  # the probe is under way: answers come without
                return SHED_COST  # shadows now, so it ends within `probe` answers
            if self._held <= max(self.config.window, 4 * self.config.probe):
                return SHED_COST
            # a shadow that never ends keeps every answer overlapped: give up this pause
            self._end_off(self._clock())
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
