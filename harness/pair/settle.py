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
```
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from harness.models import NOT_SET, PreparedRequest, Response
from harness.pair.transport import Transport
from harness.setup.contract import match_operation
from harness.setup.envelope import get_path

__all__ = ["SettleRule", "Settled", "rule_for", "settle"]


class SettleRule(BaseModel):
    """Which operations start background work and how to tell it has finished."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    operation: str = Field("*", description="operations (glob) to settle; any 202 is settled")
    poll: str | None = Field(
        None,
        description="the path to poll, with {name} filled from the first answer's body "
        "($.id -> {id}); default: its Location header",
    )
    state: str = Field("$.status", description="JSON path of the job's state in a poll answer")
    terminal: list[str] = Field(
        default_factory=lambda: ["done", "failed"], description="states that end the job"
    )
    timeout_s: float = Field(30.0, description="how long a job may take: longer is a finding")
    interval_s: float = Field(0.05, description="first pause between polls (doubles to 1 s)")


@dataclass(frozen=True)
class Settled:
    """Where one target's job ended: the last poll answer, or None when it timed out."""

    final: Response | None
    polls: int
    waited_s: float
    timed_out: bool


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
    path = poll_path(rule, first)
    begin = time.monotonic()
    if path is None:
        return Settled(None, 0, 0.0, timed_out=True)
    req = dataclasses.replace(
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
    pause, polls = rule.interval_s, 0
    while True:
        resp = transport.send_one(key, req)
        polls += 1
        state = get_path(resp.body, rule.state)
        if isinstance(state, str) and state in rule.terminal:
            return Settled(resp, polls, time.monotonic() - begin, timed_out=False)
        if time.monotonic() - begin + pause > rule.timeout_s:
            return Settled(None, polls, time.monotonic() - begin, timed_out=True)
        time.sleep(pause)
        pause = min(pause * 2, 1.0)
