"""The phases of a run, in the order the orchestrator plans them.

Each phase is a small class with a ``name`` and ``execute(ctx)`` over a
:class:`harness.context.RunContext`; it adds to ``ctx.findings`` and ``ctx.stats`` and emits
events through ``ctx.listener``. None of them knows the orchestrator.
"""

from __future__ import annotations

from typing import Protocol

from harness.context import RunContext
from harness.phases.calibration import ReuseNoise, SaveNoise
from harness.phases.interop import Interop
from harness.phases.probes import Probes
from harness.phases.realtime import Realtime
from harness.phases.rows import Rows
from harness.phases.stateful import Stateful
from harness.phases.stateless import Shrink, Stateless

__all__ = [
    "Interop",
    "Phase",
    "Probes",
    "Realtime",
    "ReuseNoise",
    "Rows",
    "SaveNoise",
    "Shrink",
    "Stateful",
    "Stateless",
]


class Phase(Protocol):
    name: str

    def execute(self, ctx: RunContext) -> None: ...
