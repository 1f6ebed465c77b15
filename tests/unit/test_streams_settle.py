"""Waiting for a role's two streams to settle after a replayed request: equal counts end the
wait after the grace (an agreeing replay is not slowed by the whole quiet period); unequal
counts are waited on until quiet, or until they become equal."""

from __future__ import annotations

import threading
import time

from harness.run.streams import Subscriber, settle


def _sub(n: int, ago: float) -> Subscriber:
    sub = Subscriber("ws://127.0.0.1:9/x", {})
    sub.messages = [{"n": i} for i in range(n)]
    sub.last = time.monotonic() - ago
    return sub


def test_equal_counts_end_the_wait_long_before_the_quiet_period() -> None:
    pairs = [(_sub(2, 60), _sub(2, 60)), (_sub(0, 60), _sub(0, 60))]
    started = time.monotonic()
    settle(pairs, 0.0, 30.0, 60.0)
    assert time.monotonic() - started < 20  # not the 30 s quiet period


def test_unequal_counts_wait_for_quiet() -> None:
    pairs = [(_sub(1, 60), _sub(0, 60))]
    started = time.monotonic()
    settle(pairs, 0.0, 0.3, 60.0)
    assert time.monotonic() - started >= 0.3


def test_unequal_counts_end_when_the_late_message_arrives() -> None:
    legacy, candidate = _sub(1, 0), _sub(0, 0)
    arrived = threading.Event()

    def late() -> None:
        arrived.wait(30)
        candidate.messages.append({"n": 0})
        candidate.last = time.monotonic()

    threading.Thread(target=late, daemon=True).start()
    started = time.monotonic()
    threading.Timer(0.05, arrived.set).start()
    settle([(legacy, candidate)], 0.0, 30.0, 60.0)
    assert len(candidate.messages) == 1  # it waited for the message, not the 30 s quiet
    assert time.monotonic() - started < 20
