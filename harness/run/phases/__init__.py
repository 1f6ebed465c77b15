"""The phases of a run, in the order the orchestrator plans them.

Each phase is a small class with a ``name`` and ``execute(ctx)`` over a
:class:`harness.run.context.RunContext`; it adds to ``ctx.findings`` and ``ctx.stats`` and emits
events through ``ctx.listener``. None of them knows the orchestrator.
"""

from __future__ import annotations

from typing import Protocol

from harness.run.context import RunContext
from harness.run.phases.calibration import ReuseNoise, SaveNoise
from harness.run.phases.contract import StaticContract
from harness.run.phases.growth import Growth
from harness.run.phases.idempotency import Idempotency
from harness.run.phases.interop import Interop
from harness.run.phases.probes import Probes
from harness.run.phases.ratelimit import RateLimit
from harness.run.phases.realtime import Realtime
from harness.run.phases.rows import Rows
from harness.run.phases.signing import Signing
from harness.run.phases.stateful import Stateful
from harness.run.phases.stateless import Shrink, Stateless

__all__ = [
    "Growth",
    "Idempotency",
    "Interop",
    "Phase",
    "Probes",
    "RateLimit",
    "Realtime",
    "ReuseNoise",
    "Rows",
    "SaveNoise",
    "Shrink",
    "Signing",
    "Stateful",
    "Stateless",
    "StaticContract",
]


class Phase(Protocol):
    name: str

    def execute(self, ctx: RunContext) -> None: ...
