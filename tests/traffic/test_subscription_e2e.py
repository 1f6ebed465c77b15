"""A simulated session subscribes to the legacy's realtime channel (``npm start``'s custom
server): the capture holds the subscription with the frames it received (``ready``, then
events); the replay on the managed pair opens that channel again on both sides as the
subscriber's role and compares what each pushes after every replayed request: quiet on the
agreeing port (neither a gap of the contract nor a finding), a finding of the write whose
event the port drops."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.traffic.capture import read_capture
from harness.traffic.replay import SUBSCRIPTIONS_SKIPPED
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built
from tests.traffic.simulate import capture

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]


def test_a_captured_subscription_is_replayed_as_live_streams_on_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "simulated")
    traffic = tmp_path / "sim.jsonl"
    # seed 7: agent.smb's login subscribes (the other three of the four do not)
    assert capture(traffic, seed_n=7, requests=60) == 0
    subs = [ex for ex in read_capture(traffic).exchanges if ex.request.websocket]
    assert len(subs) == 1, [ex.request.path for ex in subs]
    (sub,) = subs
    assert sub.request.path == "/api/realtime"
    assert sub.caller is not None
    assert sub.answer is not None
    assert sub.answer.status == 101
    frames = [m.decoded() for m in sub.answer.messages or []]
    assert frames[0]["type"] == "ready", frames[:1]
    assert frames[0]["businessUnit"] == "smb", frames[:1]
    assert all(f["type"] == "event" for f in frames[1:]), frames
    assert sub.timings.duration_ms is not None
    assert sub.timings.duration_ms > 0

    config = mutant_config(tmp_path, None, snapshot=seeded_database(Path("/tmp/parity-mutants")))
    reports = tmp_path / "r"
    argv = ["run", "--config", str(config), "--traffic", str(traffic), "-q"]
    code = main([*argv, "--report-dir", str(reports)])
    results = json.loads(next(reports.glob("*/results.json")).read_text())
    # a short capture may leave an operation unproven (exit 2, incomplete), never a finding
    assert code in (0, 2), results["errors"]
    assert results["findings"] == []
    assert results["errors"] == []
    notes = results["stats"]["notes"]
    assert not [n for n in notes if SUBSCRIPTIONS_SKIPPED in n], notes
    opened = [n for n in notes if "realtime subscription(s) of the capture opened" in n]
    assert opened == [opened[0]], notes
    assert "agent" in opened[0]  # agent.smb's role
    figures = results["traffic"]["figures"]
    # the greeting and the events of the replayed writes, on both sides
    assert figures["stream_messages"] >= 2 * len(frames), figures
    gaps = results["traffic"]["gaps"]
    assert not [g for g in gaps if "realtime" in json.dumps(g)], gaps
    assert figures["requests"] > 40

    # a port whose channel sends every event to every subscriber: the writes of the other
    # units' callers reach agent.smb's stream on the port only, findings of those writes
    (tmp_path / "m").mkdir()
    config = mutant_config(
        tmp_path / "m",
        "realtime-leak-other-unit",
        snapshot=seeded_database(Path("/tmp/parity-mutants")),
    )
    reports = tmp_path / "rm"
    code = main(
        [
            "run",
            "--config",
            str(config),
            "--traffic",
            str(traffic),
            "-q",
            "--report-dir",
            str(reports),
        ]
    )
    results = json.loads(next(reports.glob("*/results.json")).read_text())
    assert code == 1, results["errors"]
    caught = {
        (f["operation"], f["location"].split(":")[1])
        for f in results["findings"]
        if f["location"].startswith("realtime:") and not f["accepted"]
    }
    assert ("POST /api/cases", "agent_smb") in caught, caught
