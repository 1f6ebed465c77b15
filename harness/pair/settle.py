"""Settling (issue 27): an operation that answers ``202 Accepted`` has only started its work;
its first answer says little. Settling follows the job on one target through the answer's
``Location`` (or a configured poll path) until a terminal state, so the final answers of
the two sides (and the rows written until then) can be compared; a job that does not
settle within the timeout is a finding, not a hang.

```toml
[[settle]]
operation = "POST /api/cases/{id}/summary"
state = "$.status"                  # where the job's state is in the poll answer
terminal = ["done", "failed"]
timeout_s = 30
restart = "candidate"               # managed mode: crash and restart it while the job runs
restart_when = "running"            # or "accepted": right after the 202
```

The durability probe (``restart``): a job's state lives in the service's database, so a
crash of the service (SIGKILL, no shutdown) must not lose it; the job is settled after the
restart and compared as any other, and a job the restart lost never ends (a finding).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

from harness.models import NOT_SET, PreparedRequest, Response
from harness.pair.transport import Transport
from harness.setup.contract import match_operation
from harness.setup.envelope import get_path
from harness.setup.settling import SettleRule

__all__ = ["SettleRule", "Settled", "rule_for", "settle", "settle_with", "to_follow"]


@dataclass(frozen=True)
class Settled:
    """Where one target's job ended: the last poll answer, or None when it timed out."""

    final: Response | None
    polls: int
    waited_s: float
    timed_out: bool
    path: str | None = None  # the path polled
    restarted: bool = False  # its service was killed and started again while the job ran
    restart_missed: bool = False  # a restart was asked once it ran: it ended before


def rule_for(rules: list[SettleRule], operation: str, status: int) -> SettleRule | None:
    """The rule that settles this answer: a configured one, or the default for any 202."""
    for rule in rules:
        if match_operation(rule.operation, operation):
            return rule
    return SettleRule() if status == 202 else None


def poll_path(rule: SettleRule, first: Response) -> str | None:
    if rule.poll is None:
        values = first.header_values("location")
        return values[0].replace("{origin}", "") if values else None
    path = rule.poll
    body = first.body
    while "{" in path:
        start = path.index("{")
        end = path.index("}", start)
        value = get_path(body, "$." + path[start + 1 : end])
        if not isinstance(value, str | int) or isinstance(value, bool):
            return None
        path = path[:start] + str(value) + path[end + 1 :]
    return path


def settle(
    transport: Transport, key: str, started: PreparedRequest, first: Response, rule: SettleRule
) -> Settled:
    """Poll the job ``first`` started on target ``key`` (as the same role) until its state is
    terminal or ``rule.timeout_s`` has passed."""
    return settle_with(lambda req: transport.send_one(key, req), started, first, rule)


def poll_request(started: PreparedRequest, path: str) -> PreparedRequest:
    """A GET of ``path`` as the role that started the job (its token, no body)."""
    return dataclasses.replace(
        started,
        operation=f"GET {path}",
        method="GET",
        path=path,
        query=(),
        headers=(("accept", "application/json"),),
        content=None,
        body=NOT_SET,
        media_type=None,
        mode="settle",
        shrinkable=False,
        path_params=(),
    )


def settle_with(
    send: Callable[[PreparedRequest], Response],
    started: PreparedRequest,
    first: Response,
    rule: SettleRule,
    restart: Callable[[], None] | None = None,
) -> Settled:
    """:func:`settle` over any sender (the pair's, which takes envelopes off answers).

    ``restart`` (the durability probe): called once, at ``rule.restart_when``: before the
    first poll ("accepted") or when a poll first shows a state that is neither the first
    answer's (its queued state; without one, the first poll's) nor terminal ("running": the
    job is claimed). Until then polls keep ``rule.interval_s``, so a short claim is seen; the
    restart's own time does not count against ``rule.timeout_s``."""
    path = poll_path(rule, first)
    begin = time.monotonic()
    if path is None:
        return Settled(None, 0, 0.0, timed_out=True)
    req = poll_request(started, path)
    pause, polls, restarted = rule.interval_s, 0, False
    waiting = get_path(first.body, rule.state)
    if restart is not None and rule.restart_when == "accepted":
        begin += _timed(restart)
        restart, restarted = None, True
    while True:
        resp = send(req)
        polls += 1
        state = get_path(resp.body, rule.state)
        if isinstance(state, str) and state in rule.terminal:
            return Settled(
                resp,
                polls,
                time.monotonic() - begin,
                timed_out=False,
                path=path,
                restarted=restarted,
                restart_missed=restart is not None,
            )
        if restart is not None:
            if waiting is None:
                waiting = state
            elif state is not None and state != waiting:
                begin += _timed(restart)
                restart, restarted = None, True
                continue  # where the job is after the restart, at once
        if time.monotonic() - begin + pause > rule.timeout_s:
            return Settled(
                None,
                polls,
                time.monotonic() - begin,
                timed_out=True,
                path=path,
                restarted=restarted,
                restart_missed=restart is not None,
            )
        time.sleep(pause)  # a job's own pace: nothing to wait on but its next answer
        if restart is None:
            pause = min(pause * 2, 1.0)


def _timed(work: Callable[[], None]) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


def to_follow(
    rules: list[SettleRule], started: PreparedRequest, answers: dict[str, Response]
) -> dict[str, SettleRule]:
    """The answers of ``answers`` that started a job, with the rule that follows it: those
    a configured rule names (that answered 2xx), and any 202 with a ``Location``."""
    out: dict[str, SettleRule] = {}
    for key, resp in answers.items():
        if not 200 <= resp.status < 300:
            continue
        configured = any(match_operation(r.operation, started.operation) for r in rules)
        rule = rule_for(rules, started.operation, resp.status)
        if rule is None or (not configured and poll_path(rule, resp) is None):
            continue
        out[key] = rule
    return out
