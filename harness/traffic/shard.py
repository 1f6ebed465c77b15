"""Splitting a replay across shards: whole caller sessions, never single requests, and the
sessions an id chain links (a caller using a case another session created) kept together, so
each shard replays what it holds in capture order with every id it needs."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.traffic.reduce import _ids_created, _ids_used, _units
from harness.traffic.replay import TrafficPlan

__all__ = ["Component", "components", "shard_plan"]


@dataclass(frozen=True)
class Component:
    """Caller sessions that must replay together: the capture entries ("<file>#<seq>")
    of their replayed requests, in capture order."""

    entries: tuple[str, ...]

    @property
    def key(self) -> str:
        return self.entries[0]

    @property
    def cost(self) -> int:
        return len(self.entries)


def components(plan: TrafficPlan) -> list[Component]:
    """The replay's requests grouped into caller sessions (a login starts a new one), then
    sessions joined when one names an id another created before it; in capture order."""
    parent: dict[tuple[str, str | None, int], tuple[str, str | None, int]] = {}

    def find(u: tuple[str, str | None, int]) -> tuple[str, str | None, int]:
        while parent.setdefault(u, u) != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    unit_of: dict[str, tuple[str, str | None, int]] = {}
    for name, cap in plan.captures.items():
        created: dict[str, tuple[str, str | None, int]] = {}
        for ex, (caller, session) in zip(cap.exchanges, _units(cap), strict=True):
            unit = (name, caller, session)
            find(unit)
            unit_of[f"{name}#{ex.seq}"] = unit
            for value in _ids_used(ex):
                maker = created.get(value)
                if maker is not None:
                    parent[find(unit)] = find(maker)
            for value in _ids_created(ex):
                created.setdefault(value, unit)
    groups: dict[tuple[str, str | None, int], list[str]] = defaultdict(list)
    for step in plan.steps:
        unit = unit_of.get(step.entry) or (step.entry, None, 0)
        groups[find(unit)].append(step.entry)
    return [Component(tuple(entries)) for entries in groups.values()]


def shard_plan(plan: TrafficPlan, count: int) -> list[list[Component]]:
    """Largest component first, each to the least loaded shard (lowest index on a tie): the
    same traffic always gives the same split."""
    shards: list[list[Component]] = [[] for _ in range(count)]
    loads = [0] * count
    for comp in sorted(components(plan), key=lambda c: (-c.cost, c.key)):
        target = min(range(count), key=lambda i: (loads[i], i))
        shards[target].append(comp)
        loads[target] += comp.cost
    return shards


def digest(shards: list[list[Component]], files: list[Path]) -> str:
    names = [sorted(c.key for c in comps) for comps in shards]
    text = repr((len(shards), [str(f) for f in files], names))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
