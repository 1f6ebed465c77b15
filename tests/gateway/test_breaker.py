"""The per-route breaker: opens on consecutive failures or an error rate, probes, closes."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.gateway.breaker import Breaker, Breakers, BreakerSettings, Transition


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_n_consecutive_failures_then_half_opens_and_closes() -> None:
    clock = Clock()
    seen: list[Transition] = []
    b = Breaker("GET /x", BreakerSettings(consecutive=3, open_s=10), clock, seen.append)
    for _ in range(2):
        assert b.allow()
        b.failure()
    assert b.state == "closed"
    assert b.allow()
    b.failure("ConnectError")
    assert b.state == "open"
    assert "3 consecutive failures (ConnectError)" in seen[-1].reason
    assert not b.allow()
    clock.now += 9.9
    assert not b.allow()
    clock.now += 0.2
    assert b.allow()  # the probe
    assert b.state == "half-open"
    assert not b.allow()  # one probe at a time: the others stay on the legacy
    b.success()
    assert b.state == "closed"
    assert b.allow()
    assert [(t.before, t.after) for t in seen] == [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]
    assert b.snapshot()["state"] == "closed"
    assert b.snapshot()["transitions"] == 3


def test_a_failed_probe_reopens() -> None:
    clock = Clock()
    b = Breaker("r", BreakerSettings(consecutive=1, open_s=5), clock)
    b.failure()
    clock.now += 6
    assert b.allow()
    b.failure("probe boom")
    assert b.state == "open"
    assert not b.allow()
    assert b.snapshot()["last_reason"] == "probe failed: probe boom"


def test_a_success_resets_the_consecutive_count() -> None:
    b = Breaker("r", BreakerSettings(consecutive=3, min_requests=1000), Clock())
    for _ in range(10):
        b.failure()
        b.failure()
        b.success()
    assert b.state == "closed"


def test_error_rate_over_the_window_opens() -> None:
    clock = Clock()
    settings = BreakerSettings(consecutive=100, error_rate=0.5, window_s=30, min_requests=20)
    b = Breaker("r", settings, clock)
    for _ in range(9):  # 9 failures alternating with successes: never 2 in a row
        b.failure()
        b.success()
        clock.now += 0.1
    assert b.state == "closed"  # 18 requests < min_requests
    b.failure()
    b.success()
    b.failure()  # 11 of 21 failed, over 50%
    assert b.state == "open"
    assert "error rate 11/21" in b.snapshot()["last_reason"]


def test_old_failures_leave_the_window() -> None:
    clock = Clock()
    settings = BreakerSettings(consecutive=100, error_rate=0.5, window_s=10, min_requests=4)
    b = Breaker("r", settings, clock)
    b.failure()
    b.failure()
    b.failure()
    clock.now += 11  # those three are out of the window
    b.success()
    b.success()
    b.success()
    b.failure()
    assert b.state == "closed"
    assert b.snapshot()["window_requests"] == 4


def test_a_lost_probe_is_given_up() -> None:
    clock = Clock()
    b = Breaker("r", BreakerSettings(consecutive=1, open_s=1, probe_timeout_s=5), clock)
    b.failure()
    clock.now += 2
    assert b.allow()
    clock.now += 1
    assert not b.allow()
    clock.now += 5
    assert b.allow()


def test_registry_per_route_and_settings_checked() -> None:
    breakers = Breakers(BreakerSettings(consecutive=1), clock=Clock())
    breakers["a"].failure()
    assert breakers["a"].state == "open"
    assert breakers["b"].state == "closed"
    assert set(breakers.snapshot()) == {"a", "b"}
    with pytest.raises(HarnessError, match="error_rate"):
        BreakerSettings(error_rate=0)
