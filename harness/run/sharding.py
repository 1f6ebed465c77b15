"""``--shard i/n`` in a run: plan the partition for an engine, and record the shard in its
results (which part it ran, and what its exchanges showed of every operation, so that
``parity merge`` decides the gate and the coverage over the whole run)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, Protocol

from harness.errors import HarnessError
from harness.reporting.results import ShardEvidence, ShardInfo
from harness.run.context import RunContext
from harness.run.partition import (
    Partition,
    ShardPart,
    ShardSpec,
    Unit,
    load_history,
    partition,
    plan_units,
)
from harness.setup.config import Profile
from harness.setup.contract import Contract, Operation


class _Options(Protocol):
    @property
    def traffic(self) -> list[Path]: ...
    @property
    def shard(self) -> ShardSpec | None: ...
    @property
    def shard_plan(self) -> Path | None: ...
    @property
    def report_dir(self) -> Path: ...


class ShardedRun(Protocol):
    """What sharding reads of the orchestrator (``harness.run.engine.Engine``), named here
    so that the engine imports this module and not the other way round."""

    @property
    def profile(self) -> Profile: ...
    @property
    def profile_name(self) -> str: ...
    @property
    def contract(self) -> Contract: ...
    @property
    def options(self) -> _Options: ...
    def whole(self) -> list[Operation]: ...
    def can_interop(self) -> bool: ...
    def shard_part(self) -> ShardPart | None: ...
    def traffic(self) -> Any: ...


__all__ = ["plan_for", "plan_partition", "shard_info", "traffic_part"]


def plan_partition(engine: ShardedRun, count: int) -> Partition:
    """The partition of this engine's run into ``count`` shards (history from its reports)."""
    if engine.options.traffic:
        return _traffic_partition(engine, count)
    profile = engine.profile
    if profile.noise == "calibrate":
        raise HarnessError(
            f"profile {engine.profile_name!r} calibrates noise: a calibration cannot be "
            "sharded (each shard would overwrite the saved file); run it whole",
            kind="input",
        )
    units = plan_units(
        engine.contract,
        engine.whole(),
        profile,
        interop=engine.can_interop(),
        history=load_history(engine.options.report_dir),
    )
    return partition(units, count)


def _traffic_partition(engine: ShardedRun, count: int) -> Partition:
    """``--traffic``: whole caller sessions (and those an id chain links) per shard; a unit's
    ``operations`` are its capture entries, so a plan file says exactly what each replays."""
    from harness.traffic.shard import shard_plan

    shards = shard_plan(engine.traffic(), count)
    return Partition(
        count,
        [[Unit("traffic", c.key, float(c.cost), c.entries) for c in comps] for comps in shards],
    )


def traffic_part(engine: ShardedRun, plan: Partition, spec: ShardSpec) -> tuple[ShardPart, Any]:
    """Shard ``spec`` of a traffic plan: its ``ShardPart`` (the operations its requests saw
    succeed, the whole replay's as the selection) and the ``TrafficPlan`` it replays."""
    whole_plan = engine.traffic()
    entries = {e for u in plan.shards[spec.index - 1] for e in u.operations}
    mine = whole_plan.only(entries)
    seen, ops = whole_plan.operations, mine.operations
    whole = [op for op in engine.whole() if op.id in seen]
    part = ShardPart(
        index=spec.index,
        count=spec.count,
        operations=tuple(op.id for op in whole if op.id in ops),
        sequences=(),
        interop=(),
        selected=tuple(op.id for op in whole),
        digest=plan.digest,
        cost=float(len(mine.steps)),
    )
    return part, mine


def plan_for(engine: ShardedRun, spec: ShardSpec) -> Partition:
    """The plan a shard runs: the one its parent wrote (``--workers``), else its own."""
    path = engine.options.shard_plan
    if path is None:
        return plan_partition(engine, spec.count)
    try:
        plan = Partition.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path}: not a shard plan: {exc}", kind="input") from exc
    expected = plan_partition(engine, spec.count)
    if plan.count != spec.count or plan.units() != expected.units():
        raise HarnessError(
            f"{path}: the shard plan does not cover this run's work (another selection, "
            "profile or contract)",
            kind="input",
        )
    return plan


def shard_info(engine: ShardedRun, ctx: RunContext | None) -> ShardInfo:
    spec = engine.options.shard
    assert spec is not None
    try:
        part = engine.shard_part()
        whole = engine.whole()
    except HarnessError:
        part, whole = None, []
    evidence: dict[str, ShardEvidence] = {}
    if ctx is not None:
        for op in whole:
            codes = {str(lc) for lc, _ in ctx.stats.answers.get(op.id, Counter())}
            stats = ctx.stats.ops.get(op.id)
            if stats is not None:
                codes |= set(stats.statuses["legacy"])
            evidence[op.id] = ShardEvidence(
                proven=ctx.stats.proven(op),
                codes=sorted(codes),
                documented=[s for s in op.statuses if s != "default"],
            )
    return ShardInfo(
        index=spec.index,
        count=spec.count,
        operations=list(part.operations) if part else [],
        sequences=list(part.sequences) if part else [],
        interop=list(part.interop) if part else [],
        selected=list(part.selected) if part else [op.id for op in whole],
        plan=part.digest if part else "",
        cost=part.cost if part else 0.0,
        require_proof=engine.profile.require_proof,
        evidence=evidence,
    )
