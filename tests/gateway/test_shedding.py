"""The shedding rule fed synthetic answer times and in-flight counts: it sheds above the
threshold, resumes after recovery, names its reason; the gateway counts each shed shadow
under that reason (``/metrics``, ``/_parity/status``, the results' stats)."""

from __future__ import annotations

import asyncio
import queue
from typing import Any

import pytest

from harness.gateway.app import GatewayApp
from harness.gateway.routes import Route, RouteTable
from harness.gateway.shedding import (
    AIM,
    RISE,
    SHED_COST,
    SHED_IN_FLIGHT,
    SHED_LATENCY,
    SMOOTHING,
    LoadGuard,
)
from harness.gateway.writes import WriteCounters
from harness.setup.gateway import GatewayConfig, ShedConfig

# all or nothing: the whole share shed at once and back at once (the stepping has its own tests)
BINARY = {"floor": 0.0, "step_down": 0.0, "step_up": 1.0}


def _feed(guard: LoadGuard, ms: float, n: int) -> None:
    for _ in range(n):
        guard.started()
        guard.ended(ms / 1000)


def test_no_shedding_before_a_baseline_nor_under_the_floor() -> None:
    guard = LoadGuard(ShedConfig(window=10, latency_factor=4, latency_min_ms=20, in_flight=0))
    _feed(guard, 500, 9)  # not one full window yet: no baseline, nothing to compare with
    assert guard.shed() is None
    guard = LoadGuard(ShedConfig(window=10, latency_factor=4, latency_min_ms=20, in_flight=0))
    _feed(guard, 1, 10)
    _feed(guard, 15, 10)  # 15x the baseline, but under latency_min_ms: jitter, not strain
    assert guard.shed() is None


def test_latency_sheds_above_the_threshold_and_resumes_after_recovery() -> None:
    guard = LoadGuard(
        ShedConfig(window=10, latency_factor=4, latency_min_ms=0, in_flight=0, **BINARY)
    )
    _feed(guard, 5, 10)  # the calm baseline: p90 5 ms
    assert guard.baseline_ms == 5
    _feed(guard, 15, 10)  # 3x: under the factor
    assert guard.shed() is None
    _feed(guard, 5, 8)
    _feed(guard, 30, 2)  # p90 of this window is 30 ms: 6x the baseline
    assert guard.shed() == SHED_LATENCY
    _feed(guard, 18, 10)  # under the threshold (20) but over its 3/4 (15): still shedding
    assert guard.shed() == SHED_LATENCY
    _feed(guard, 6, 10)  # recovered
    assert guard.shed() is None
    assert guard.transitions == 1
    assert guard.baseline_ms == 5  # the strain never became the baseline


def test_a_long_strain_becomes_the_new_calm_after_baseline_windows() -> None:
    guard = LoadGuard(
        ShedConfig(
            window=4, latency_factor=2, latency_min_ms=0, in_flight=0, baseline_windows=3, **BINARY
        )
    )
    _feed(guard, 5, 4)
    _feed(guard, 50, 4)
    assert guard.shed() == SHED_LATENCY
    _feed(guard, 50, 8)  # the calm window has left the last 3
    assert guard.baseline_ms == 50
    assert guard.shed() is None


def test_in_flight_sheds_while_more_than_k_wait_and_not_after() -> None:
    guard = LoadGuard(ShedConfig(in_flight=2, **BINARY))
    for _ in range(3):
        guard.started()
    assert guard.shed() == SHED_IN_FLIGHT  # 3 waiting for the legacy, more than 2
    guard.ended(None)  # a failure ends it too
    assert guard.shed() is None
    guard.started()
    assert guard.shed() == SHED_IN_FLIGHT
    guard.ended(0.001)
    assert guard.shed() is None
    assert guard.in_flight == 2


def test_disabled_never_sheds() -> None:
    guard = LoadGuard(ShedConfig(enabled=False, in_flight=1, window=1, latency_min_ms=0))
    _feed(guard, 1, 1)
    for _ in range(5):
        guard.started()
    _feed(guard, 1000, 3)
    assert guard.shed() is None


def test_the_gateway_counts_each_shed_shadow_by_reason() -> None:
    gw = GatewayConfig(
        legacy="http://127.0.0.1:1",
        candidate="http://127.0.0.1:2",
        default_mode="shadow",
        shadow_fraction=1.0,
        shed=ShedConfig(in_flight=1, window=4, latency_factor=2, latency_min_ms=0, **BINARY),
    )
    app = GatewayApp(gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False)
    route = Route("*", "shadow", None, 1.0)
    assert app._admit(route, "a")  # calm: admitted
    app.guard.started()
    app.guard.started()
    assert not app._admit(route, "b")  # 2 in flight, more than 1
    app.guard.ended(0.001)
    app.guard.ended(0.001)
    _feed(app.guard, 1, 2)  # the first window (p90 1 ms) is the baseline
    _feed(app.guard, 10, 4)
    assert not app._admit(route, "c")
    assert not app._admit(route, "d")
    _feed(app.guard, 1, 4)
    assert app._admit(route, "e")  # recovered
    assert app.dropped == {SHED_IN_FLIGHT: 1, SHED_LATENCY: 2}
    stats = app.stats_job()
    assert stats["route_dropped"] == {"*": {SHED_IN_FLIGHT: 1, SHED_LATENCY: 2}}
    assert stats["route_shadowed"] == {"*": {"eligible": 5, "shadowed": 0}}
    text = app.metrics.render().decode()
    assert 'parity_gateway_shadows_total{outcome="shed_latency",route="*"} 2.0' in text
    assert 'parity_gateway_shadows_total{outcome="shed_in_flight",route="*"} 1.0' in text


def test_the_share_steps_down_per_strained_window_to_the_floor_and_back_up_after() -> None:
    guard = LoadGuard(
        ShedConfig(
            window=10,
            latency_factor=4,
            latency_min_ms=0,
            in_flight=0,
            floor=0.1,
            step_down=0.5,
            step_up=0.3,
        )
    )
    _feed(guard, 5, 10)  # the calm baseline: p90 5 ms, threshold 20 ms
    assert guard.share == 1.0
    assert guard.shed() is None
    shares = []
    for _ in range(5):  # five strained windows: halved each time, never under the floor
        _feed(guard, 40, 10)
        shares.append(guard.share)
    assert shares == [0.5, 0.25, 0.125, 0.1, 0.1]
    assert guard.transitions == 1
    _feed(guard, 18, 10)  # under the threshold, over its 3/4: held
    assert guard.share == 0.1
    ups = []
    for _ in range(4):  # calm windows: +0.3 each, capped at 1, where shedding ends
        _feed(guard, 5, 10)
        ups.append(round(guard.share, 2))
    assert ups == [0.4, 0.7, 1.0, 1.0]
    assert guard.shed() is None
    assert not guard.slow


def test_a_share_is_kept_exactly_one_in_every_1_over_share() -> None:
    guard = LoadGuard(
        ShedConfig(
            window=4, latency_factor=2, latency_min_ms=0, in_flight=0, floor=0.25, step_down=0
        )
    )
    _feed(guard, 5, 4)
    _feed(guard, 50, 4)  # strained: straight to the floor, a quarter sent
    assert guard.share == 0.25
    sent = [guard.shed() is None for _ in range(12)]
    assert sent == [False, False, False, True] * 3
    assert guard.snapshot()["share_sent"] == 0.25  # reading the state spends no credit
    assert guard.snapshot()["shedding"] == SHED_LATENCY


def test_a_legacy_with_too_many_waiting_keeps_only_the_floor() -> None:
    guard = LoadGuard(ShedConfig(in_flight=2, floor=0.2))
    for _ in range(3):
        guard.started()
    reasons = [guard.shed() for _ in range(10)]
    assert reasons.count(None) == 2  # every fifth
    assert set(reasons) == {None, SHED_IN_FLIGHT}


def test_metrics_say_what_share_of_shadows_is_sent_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GW_SHED_TOKEN", "t0k")
    gw = GatewayConfig(
        legacy="http://127.0.0.1:1",
        candidate="http://127.0.0.1:2",
        default_mode="shadow",
        token_env="GW_SHED_TOKEN",
        shed=ShedConfig(in_flight=0, window=4, latency_factor=2, latency_min_ms=0, floor=0.1),
    )
    app = GatewayApp(gw, RouteTable(gw, None), queue.Queue(), WriteCounters(), capture=False)

    def metrics() -> str:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"x-parity-token", b"t0k")]
        scope: dict[str, Any] = {"type": "http", "method": "GET", "path": "/metrics"}
        scope["headers"] = headers
        asyncio.run(app.admin(scope, receive, send))
        return bytes(sent[1]["body"]).decode()

    assert "parity_gateway_shadow_share_sent 1.0" in metrics()
    _feed(app.guard, 1, 4)
    _feed(app.guard, 10, 4)  # strained: halved
    assert "parity_gateway_shadow_share_sent 0.5" in metrics()
    _feed(app.guard, 10, 8)  # twice more: the floor
    assert "parity_gateway_shadow_share_sent 0.1" in metrics()


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _cycle(guard: LoadGuard, clock: _Clock, ms_on: float, ms_off: float) -> None:
    """One on period of answers taking ``ms_on`` (every new shadow asked for), then one
    pause: the shadows in flight end, it settles, then answers taking ``ms_off``; 10 ms a
    step."""
    while not guard._off:  # the on period
        guard.shed()
        clock.now += 0.01
        guard.served(ms_on, True)
    clock.now += 0.01
    guard.served(ms_on, True)  # one still overlapped a shadow sent before the pause
    while guard._off:
        assert guard.shed() == SHED_COST  # held back for the whole pause
        clock.now += 0.01
        guard.served(ms_off, False)
    assert guard.cost is not None  # the pause ended in a verdict


def test_the_cost_budget_steps_the_share_toward_its_aim_while_shadows_slow_the_legacy() -> None:
    config = ShedConfig(in_flight=0, latency_factor=0, window=32, budget=0.2, floor=0.1)
    aim = config.budget * AIM
    clock = _Clock()
    guard = LoadGuard(config, clock)
    _cycle(guard, clock, 1.05, 1.0)  # 5% slower with shadows on: under the aim
    assert guard.cost is not None
    assert abs(guard.cost - 0.05) < 1e-9
    assert aim > 0.05
    assert guard.cost_share == 1.0
    assert guard.shed() is None
    _cycle(guard, clock, 2.0, 1.0)  # twice as slow: one reading moves the estimate a little
    est = 0.05 + SMOOTHING * (1.0 - 0.05)
    # down in proportion to the aim, by step_down at most
    assert abs(guard.cost_share - max(config.step_down, aim / est)) < 1e-9
    assert guard.cost_share < 1.0
    assert guard.snapshot()["shedding"] == SHED_COST
    sent = [guard.shed() is None for _ in range(4)]
    assert sent.count(True) == 2  # one in every 1/share
    shares = [guard.cost_share]
    for _ in range(4):  # still twice as slow: down again, never by more than step_down
        _cycle(guard, clock, 2.0, 1.0)
        assert guard.cost_share >= shares[-1] * config.step_down - 1e-9
        shares.append(guard.cost_share)
    assert shares[-1] == config.floor
    assert shares == sorted(shares, reverse=True)
    for _ in range(40):  # no cost now: back up by RISE at most a pause
        _cycle(guard, clock, 1.0, 1.0)
        assert guard.cost_share <= shares[-1] * RISE + 1e-9
        shares.append(guard.cost_share)
    assert guard.cost_share == 1.0
    assert guard.shed() is None


def test_a_noisy_reading_moves_the_share_less_than_a_steady_one() -> None:
    """One slow pause among calm ones leaves the share where it was (the smoothed estimate
    stays under the aim); the same reading pause after pause steps it down."""
    config = ShedConfig(in_flight=0, latency_factor=0, window=32, budget=0.2, floor=0.05)
    clock = _Clock()
    noisy, steady = LoadGuard(config, clock), LoadGuard(config, clock)
    for guard in (noisy, steady):
        for _ in range(3):
            _cycle(guard, clock, 1.0, 1.0)
    _cycle(noisy, clock, 1.5, 1.0)  # one reading of +50%
    for _ in range(3):
        _cycle(noisy, clock, 1.0, 1.0)
    for _ in range(6):
        _cycle(steady, clock, 1.5, 1.0)
    assert steady.cost_share < 0.2
    assert noisy.cost_share == 1.0


def test_a_pause_waits_for_the_shadows_in_flight_and_lets_the_machine_settle() -> None:
    clock = _Clock()
    guard = LoadGuard(
        ShedConfig(in_flight=0, latency_factor=0, window=16, budget=0.2, probe=16), clock
    )
    for _ in range(16):  # an on period: every answer 2 ms
        clock.now += 0.01
        guard.served(2, True)
    assert guard._off
    assert guard.shed() == SHED_COST
    for _ in range(10):  # 0.1 s until the shadows in flight are done: not timed
        clock.now += 0.01
        guard.served(50, True)
    for _ in range(11):  # as long again (0.11 s to the first answer without) to settle: the
        clock.now += 0.01  # port's queued work, not timed either
        guard.served(50, False)
    assert guard.cost is None
    for _ in range(16):  # the pause's answers
        clock.now += 0.01
        guard.served(1, False)
    assert guard.cost == 1.0  # 2 ms against 1 ms, the slow drain not counted
    assert not guard._off
    assert guard.cost_share == 0.5


def test_a_calm_gateway_pauses_less_and_less_often() -> None:
    clock = _Clock()
    config = ShedConfig(in_flight=0, latency_factor=0, window=16, budget=0.2, probe=16)
    guard = LoadGuard(config, clock)
    lengths = []
    for _ in range(5):
        start = clock.now
        _cycle(guard, clock, 1.0, 1.0)
        lengths.append(clock.now - start)
    assert guard.cost_share == 1.0
    assert lengths[1] > lengths[0] * 1.5
    assert lengths[3] > lengths[1] * 3
    assert abs(lengths[4] - lengths[3]) < 0.05  # up to eight times, then no longer


def test_a_pause_holds_back_at_most_a_window_of_shadows() -> None:
    clock = _Clock()
    guard = LoadGuard(
        ShedConfig(in_flight=0, latency_factor=0, window=16, budget=0.2, probe=3), clock
    )
    for _ in range(16):
        clock.now += 0.01
        guard.served(2, True)
    held = [guard.shed() for _ in range(20)]  # a shadow that never ends: no answer without
    assert held == [SHED_COST] * 16 + [None] * 4
    assert guard.cost is None


def test_once_the_shadows_in_flight_ended_a_pause_holds_back_until_its_probe_is_done() -> None:
    """The cap on shadows held back is for a shadow that never ends; a pause whose shadows
    ended waits for its probe however many new shadows arrive meanwhile (a busy gateway
    sees more new reads than answers in the time a probe takes)."""
    clock = _Clock()
    config = ShedConfig(in_flight=0, latency_factor=0, window=16, budget=0.2, probe=16)
    guard = LoadGuard(config, clock)
    for _ in range(16):
        clock.now += 0.01
        guard.served(2, True)
    assert guard._off
    clock.now += 0.01
    guard.served(2, False)  # the shadows in flight ended
    cap = max(config.window, 4 * config.probe)
    assert [guard.shed() for _ in range(cap + 10)] == [SHED_COST] * (cap + 10)
    clock.now += 0.1  # settled
    for _ in range(16):
        clock.now += 0.001
        guard.served(1, False)
    assert guard.cost == 1.0
    assert not guard._off


def test_no_budget_no_cost_signal() -> None:
    clock = _Clock()
    guard = LoadGuard(ShedConfig(in_flight=0, latency_factor=0, window=4, budget=0), clock)
    for i in range(64):
        clock.now += 0.01
        guard.served(50 if i % 2 else 1, bool(i % 2))
    assert guard.cost is None
    assert guard.shed() is None
