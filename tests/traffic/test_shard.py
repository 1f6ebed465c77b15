"""A replay split across shards: whole caller sessions, id chains kept in one shard, the same
traffic always split the same way."""

from __future__ import annotations

from collections import Counter

from harness.setup.contract import load_contract
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import Capture, Header
from harness.traffic.replay import TrafficPlan
from harness.traffic.shard import components, shard_plan
from tests.traffic.test_reduce import CONTRACT, T0, _ex


def _plan(cap: Capture) -> TrafficPlan:
    return TrafficPlan.build(
        [cap], load_contract(CONTRACT), "", ["admin"], TrafficConfig(), {}, lambda _op: False
    )


def test_sessions_linked_by_an_id_replay_together() -> None:
    login = {"token": "t"}
    exchanges = [
        _ex(0, "ana", "POST", "/api/cases", 201, {"id": 900, "title": "t"}),
        _ex(1, "bo", "GET", "/api/alerts/count", 200, {"total": 1}),
        _ex(2, "cy", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(3, "bo", "GET", "/api/cases/900", 200, {"id": 900}),  # bo needs ana's case
        _ex(4, "cy", "POST", "/api/auth/login", 200, login),  # cy's second session
        _ex(5, "cy", "GET", "/api/alerts/count", 200, {"total": 1}),
        _ex(6, "dee", "GET", "/api/health", 200, {"status": "ok"}),
    ]
    cap = Capture(Header(created=T0), exchanges, [], "cap.jsonl")
    groups = sorted(c.entries for c in components(_plan(cap)))
    assert groups == [
        ("cap.jsonl#0", "cap.jsonl#1", "cap.jsonl#3"),
        ("cap.jsonl#2",),
        ("cap.jsonl#4", "cap.jsonl#5"),
        ("cap.jsonl#6",),
    ]
    shards = shard_plan(_plan(cap), 2)
    every = [e for comps in shards for c in comps for e in c.entries]
    assert Counter(every) == Counter(f"cap.jsonl#{n}" for n in range(7))  # each once
    assert [sum(c.cost for c in comps) for comps in shards] == [4, 3]
    assert shard_plan(_plan(cap), 2) == shards  # deterministic
    # each shard replays its part in capture order
    part = _plan(cap).only({e for c in shards[0] for e in c.entries})
    assert [s.entry for s in part.steps] == sorted(
        (s.entry for s in part.steps), key=lambda e: int(e.split("#")[1])
    )
