"""A realtime subscription in a capture: recorded with its frames (redacted like bodies),
skipped by the replay with a reason, and left out of the contract gaps and the reduction."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from harness.setup.contract import load_contract
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    CaptureWriter,
    Exchange,
    Header,
    Pseudonymizer,
    Redactor,
    Timings,
    read_capture,
)
from harness.traffic.gaps import find_gaps
from harness.traffic.reduce import reduce_capture
from harness.traffic.replay import SUBSCRIPTIONS_SKIPPED, TrafficPlan

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"
T0 = datetime(2026, 1, 5, tzinfo=UTC)
HEALTH = {"status": "ok", "time": "2026-01-05T00:00:00.000Z", "database": "ok"}


def _frame(value: object) -> Body:
    return Body(media_type="application/json", text=json.dumps(value))


def _subscription(seq: int, *frames: object) -> Exchange:
    return Exchange(
        seq=seq,
        caller="p-1",
        request=CapturedRequest(
            method="GET",
            path="/api/realtime",
            headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Authorization", "x")],
        ),
        answer=CapturedAnswer(status=101, messages=[_frame(f) for f in frames]),
        timings=Timings(started=T0, duration_ms=1200.0),
    )


def _health(seq: int) -> Exchange:
    return Exchange(
        seq=seq,
        caller="p-1",
        request=CapturedRequest(method="GET", path="/api/health"),
        answer=CapturedAnswer(
            status=200,
            headers=[("content-type", "application/json")],
            body=_frame(HEALTH),
        ),
        timings=Timings(started=T0),
    )


def test_a_subscription_is_written_redacted_and_read_back(tmp_path: Path) -> None:
    ready = {"type": "ready", "userId": 4, "role": "agent", "businessUnit": "smb", "after": 3}
    event = {"type": "event", "event": {"payload": {"customerName": "Ana Lee", "token": "t0k"}}}
    out = tmp_path / "c.jsonl"
    redactor = Redactor.build(Pseudonymizer(b"k"), personal=["customerName"])
    with CaptureWriter(out, Header(created=T0), redactor) as writer:
        writer.write(_subscription(0, ready, event))
    (ex,) = read_capture(out).exchanges
    assert ex.request.websocket
    assert dict(ex.request.headers)["Authorization"] == "[redacted]"
    assert ex.answer is not None
    assert ex.answer.messages is not None
    first, second = (m.decoded() for m in ex.answer.messages)
    assert first == ready
    payload = second["event"]["payload"]
    assert payload["token"] == "[redacted]"
    assert payload["customerName"] not in ("Ana Lee", None)
    assert "Ana Lee" not in out.read_text()
    assert "t0k" not in out.read_text()


def test_the_replay_follows_a_subscription_gaps_leave_it_out_and_reduce_keeps_it() -> None:
    contract = load_contract(CONTRACT)
    cap = Capture(Header(created=T0), [_health(0), _subscription(1, {"type": "ready"})])
    plan = TrafficPlan.build([cap], contract, "", ["admin"], TrafficConfig(), {}, lambda _: False)
    assert [s.exchange.seq for s in plan.steps] == [0]
    assert [s.path for s in plan.subscriptions] == ["/api/realtime"]  # a stream, not a step
    assert plan.skipped == {}
    off = TrafficConfig(streams=False)
    plan = TrafficPlan.build([cap], contract, "", ["admin"], off, {}, lambda _: False)
    assert plan.skipped == {SUBSCRIPTIONS_SKIPPED: 1}
    # without the subscription the capture has no gap: with it, still none (it is a channel)
    assert find_gaps([cap], contract, "").found() == []
    # a reduced capture keeps it: its replay follows the channel too
    assert [e.seq for e in reduce_capture(cap, contract, "").capture.exchanges] == [0, 1]
    # a plain GET of the same path (no upgrade) is an HTTP request: the contract lacks it
    plain = Exchange(
        seq=2,
        request=CapturedRequest(method="GET", path="/api/realtime"),
        timings=Timings(started=T0),
    )
    with_plain = Capture(Header(created=T0), [*cap.exchanges, plain])
    plan = TrafficPlan.build([with_plain], contract, "", ["admin"], off, {}, lambda _: False)
    assert plan.skipped == {SUBSCRIPTIONS_SKIPPED: 1, "not in the contract": 1}
