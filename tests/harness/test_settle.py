"""Settling (issue 27): a 202 is followed through ``Location`` (or a configured poll path)
to the job's terminal state; a job that never finishes is a timeout, not a hang. Real HTTP
job servers on 127.0.0.1 whose jobs finish after a number of polls (or never)."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.compare.normalization import RuleSet
from harness.models import NOT_SET, PreparedRequest, Response
from harness.pair.settle import SettleRule, rule_for, settle, settle_with
from harness.pair.transport import Target, Transport
from harness.run.settled import settled_differences
from harness.setup.config import CompareConfig


def _jobs(polls_to_finish: int | None) -> type[BaseHTTPRequestHandler]:
    """POST /jobs answers 202 and a Location; the job is done after that many polls."""
    polls: dict[int, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def _json(self, status: int, body: object, location: str | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            if location:
                self.send_header("location", location)
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            job = len(polls) + 1
            polls[job] = 0
            self._json(202, {"id": job, "status": "queued"}, f"/jobs/{job}")

        def do_GET(self) -> None:
            job = int(self.path.rsplit("/", 1)[1])
            polls[job] += 1
            done = polls_to_finish is not None and polls[job] >= polls_to_finish
            body: dict[str, object] = {"id": job, "status": "done" if done else "running"}
            if done:
                body["result"] = {"polls": polls[job]}
            self._json(200, body)

        def log_message(self, *_args: object) -> None:
            pass

    return Handler


@pytest.fixture
def servers() -> Iterator[tuple[str, str]]:
    """One server whose jobs finish on the third poll, one whose jobs never finish."""
    running = [ThreadingHTTPServer(("127.0.0.1", 0), _jobs(n)) for n in (3, None)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in running]
    for t in threads:
        t.start()
    try:
        a, b = (f"http://127.0.0.1:{s.server_address[1]}" for s in running)
        yield a, b
    finally:
        for s in running:
            s.shutdown()
            s.server_close()


START = PreparedRequest(
    operation="POST /jobs",
    method="POST",
    path="/jobs",
    query=(),
    headers=(("content-type", "application/json"),),
    content=b"{}",
    body={},
    media_type="application/json",
    role=None,
    mode="positive",
)


def test_a_202_is_followed_to_its_end_and_a_job_that_never_ends_times_out(
    servers: tuple[str, str],
) -> None:
    finishing, stuck = servers
    transport = Transport(Target("legacy", finishing), Target("candidate", stuck), timeout_s=10)
    try:
        legacy, candidate = transport.send_pair(START)
        assert (legacy.status, candidate.status) == (202, 202)
        rule = rule_for([], START.operation, legacy.status)
        assert rule is not None
        done = settle(transport, "legacy", START, legacy, rule)
        assert not done.timed_out
        assert done.final is not None
        assert done.final.body == {"id": 1, "status": "done", "result": {"polls": 3}}
        assert done.polls == 3
        quick = rule.model_copy(update={"timeout_s": 0.5})
        never = settle(transport, "candidate", START, candidate, quick)
        assert never.timed_out
        assert never.final is None
        assert never.polls >= 2
        # a configured poll path, filled from the first answer's body
        by_id = SettleRule(operation="POST /jobs", poll="/jobs/{id}")
        again = transport.send_one("legacy", START)
        done = settle(transport, "legacy", START, again, by_id)
        assert done.final is not None
        assert done.final.body["status"] == "done"
    finally:
        transport.close()


def test_only_202_or_a_configured_operation_is_settled() -> None:
    assert rule_for([], "POST /items", 201) is None
    assert rule_for([], "POST /items", 202) is not None
    configured = SettleRule(operation="POST /exports", poll="/exports/{id}")
    assert rule_for([configured], "POST /exports", 200) is configured
    assert NOT_SET is not None


# -- the durability probe: a restart under the job ---------------------------------------------
def _answer(state: str) -> Response:
    body = {"id": 1, "status": state}
    return Response(202 if state == "queued" else 200, (("location", "/jobs/1"),), body, "", 1.0)


class _Job:
    """A job's states as successive polls see them; ``restart()`` records the poll it came
    after and, when the job is ``lost``, leaves it ``running`` for good."""

    def __init__(self, states: list[str], *, lost: bool = False) -> None:
        self.states, self.lost = states, lost
        self.polls = 0
        self.restarted_after: list[int] = []

    def send(self, _req: PreparedRequest) -> Response:
        if self.lost and self.restarted_after:
            return _answer("running")
        state = self.states[min(self.polls, len(self.states) - 1)]
        self.polls += 1
        return _answer(state)

    def restart(self) -> None:
        self.restarted_after.append(self.polls)


@pytest.mark.parametrize(
    ("when", "states", "after"),
    [
        # the poll that first shows the job claimed triggers the restart, once
        ("running", ["queued", "queued", "running", "running", "done"], [3]),
        # accepted: before any poll
        ("accepted", ["queued", "running", "done"], [0]),
    ],
)
def test_the_restart_comes_once_at_its_moment_and_the_job_is_settled_after(
    when: str, states: list[str], after: list[int]
) -> None:
    rule = SettleRule(restart="both", restart_when=when, interval_s=0.001)  # type: ignore[arg-type]
    job = _Job(states)
    done = settle_with(job.send, START, _answer("queued"), rule, job.restart)
    assert job.restarted_after == after
    assert done.restarted
    assert not done.restart_missed
    assert done.final is not None
    assert done.final.body["status"] == "done"


def test_a_job_that_ends_before_it_is_seen_claimed_is_not_restarted() -> None:
    rule = SettleRule(restart="both", restart_when="running", interval_s=0.001)
    job = _Job(["queued", "queued", "done"])
    done = settle_with(job.send, START, _answer("queued"), rule, job.restart)
    assert job.restarted_after == []
    assert not done.restarted
    assert done.restart_missed
    assert done.final is not None


def test_a_job_the_restart_lost_is_a_timeout_finding_that_names_the_restart() -> None:
    rule = SettleRule(restart="candidate", interval_s=0.001, timeout_s=0.3)
    kept, lost = _Job(["queued", "running", "done"]), _Job(["queued", "running"], lost=True)
    legacy = settle_with(kept.send, START, _answer("queued"), rule, kept.restart)
    candidate = settle_with(lost.send, START, _answer("queued"), rule, lost.restart)
    assert legacy.final is not None
    assert candidate.timed_out
    assert candidate.restarted
    tally: Counter[str] = Counter()
    found = settled_differences(
        {"legacy": legacy, "candidate": candidate},
        "legacy",
        "candidate",
        RuleSet([], "GET /jobs/{id}"),
        CompareConfig(),
        None,
        None,
        tally,
    )
    assert [(d.location, d.kind) for d in found] == [("settle", "missing")]
    assert "restarted" in found[0].summary
    assert "after its service was restarted" in str(found[0].candidate)
    assert tally["restarted"] == 2
    assert tally["timed_out"] == 1
    # the same pair without a restart on either side agrees on how the job ended
    quiet = settle_with(_Job(["queued", "done"]).send, START, _answer("queued"), rule)
    assert not settled_differences(
        {"legacy": legacy, "candidate": quiet},
        "legacy",
        "candidate",
        RuleSet([], "GET /jobs/{id}"),
        CompareConfig(),
        None,
        None,
    )
