"""``[[settle]]``: which operations start background work and how to follow it to its end
(issue 27). The model lives in setup so ``parity.toml`` can name it; following a job is
:mod:`harness.pair.settle` (an example ``[[settle]]`` table is in its docstring).
"""

from __future__ import annotations

from typing import Literal

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
    restart: Literal["legacy", "candidate", "both"] | None = Field(
        None,
        description="managed mode, the durability probe: kill these services (SIGKILL, a "
        "crash) while a job runs and start them again on their port and database, then "
        "settle the job; a job the restart lost never ends (a finding). Default: no restart "
        "(the profile's restart_jobs can turn it on for every rule)",
    )
    restart_when: Literal["accepted", "running"] = Field(
        "running",
        description='when to restart: "accepted", right after the first answer (a queued job); '
        '"running", once a poll shows the job claimed (a state neither the first answer\'s nor '
        "terminal): polls stay at interval_s until then, and a job that ends first is not "
        "restarted",
    )
    restarts: int = Field(
        1,
        ge=0,
        description="jobs of this rule restarted per run at most (each restart costs a service "
        "start)",
    )
