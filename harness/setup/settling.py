"""``[[settle]]``: which operations start background work and how to follow it to its end
(issue 27). The model lives in setup so ``parity.toml`` can name it; following a job is
:mod:`harness.pair.settle` (an example ``[[settle]]`` table is in its docstring).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SettleRule"]


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
