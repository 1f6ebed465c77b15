"""Shards: a deterministic partition of a run's work, so n jobs with one seed cover it once.

The work comes in units that can run apart without changing what each one sends:

- a *path* unit: every selected operation of one path (their stateless and rows cases) and
  the path's probes (a probe of an undeclared method needs the path's declared ones);
- a *sequence* unit: stateful sequence k of the profile's count (its random choices are
  seeded from (seed, k), see ``harness.cases.sequences``);
- an *interop* unit: the interop cases of one create operation.

Each unit has an expected cost: its cases times the measured mean latency of its operation,
taken from the newest earlier whole run's ``results.json`` in the report folder that ran
it, else its cases. The units go, most expensive first, to the least loaded shard (ties by name and
index), so the same inputs always give the same partition; its digest goes into every
shard's results and ``parity merge`` refuses shards planned differently.
"""

from __future__ import annotations

import hashlib
import json
import re
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from harness.errors import HarnessError
from harness.setup.config import Profile
from harness.setup.contract import Contract, Link, Operation

__all__ = [
    "HISTORY_RUNS",
    "Partition",
    "ShardPart",
    "ShardSpec",
    "Unit",
    "interop_links",
    "load_history",
    "parse_shard",
    "partition",
    "plan_units",
]

HISTORY_RUNS = 10  # newest earlier runs read for measured latencies
PROBES = "probes"  # the probes' pseudo-operation in results.json
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")

UnitKind = Literal["path", "sequence", "interop", "traffic"]


@dataclass(frozen=True)
class ShardSpec:
    """``--shard i/n``: 1-based index of n."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> ShardSpec:
    match = _SHARD.match(text)
    if match is None:
        raise HarnessError(f"--shard {text!r}: expected INDEX/TOTAL, e.g. 1/2", kind="input")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise HarnessError(
            f"--shard {text!r}: the index must be between 1 and the total ({count})", kind="input"
        )
    return ShardSpec(index, count)


@dataclass(frozen=True)
class Unit:
    kind: UnitKind
    key: str  # the path, "seq:<k>", or the interop source operation
    cost: float
    operations: tuple[str, ...] = ()  # a path unit's operations / a traffic unit's entries

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"


@dataclass(frozen=True)
class ShardPart:
    """What one shard runs, and the whole run it is a part of."""

    index: int
    count: int
    operations: tuple[str, ...]  # this shard's operations, in run order
    sequences: tuple[int, ...]  # stateful sequence numbers (0-based)
    interop: tuple[str, ...]  # interop source operations
    selected: tuple[str, ...]  # the whole run's selection, in run order
    digest: str
    cost: float


@dataclass
class Partition:
    count: int
    shards: list[list[Unit]] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """The same for every shard of one plan: which unit went where (not the costs)."""
        names = [[u.name for u in sorted(units, key=lambda u: u.name)] for units in self.shards]
        return hashlib.sha256(json.dumps([self.count, names]).encode()).hexdigest()[:16]

    def loads(self) -> list[float]:
        return [round(sum(u.cost for u in units), 3) for units in self.shards]

    def part(self, index: int, selection: list[Operation]) -> ShardPart:
        """Shard ``index`` (1-based) of this plan."""
        units = self.shards[index - 1]
        mine = {op for u in units if u.kind == "path" for op in u.operations}
        return ShardPart(
            index=index,
            count=self.count,
            operations=tuple(op.id for op in selection if op.id in mine),
            sequences=tuple(sorted(int(u.key) for u in units if u.kind == "sequence")),
            interop=tuple(sorted(u.key for u in units if u.kind == "interop")),
            selected=tuple(op.id for op in selection),
            digest=self.digest,
            cost=round(sum(u.cost for u in units), 3),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "digest": self.digest,
            "shards": [[asdict(u) for u in units] for units in self.shards],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Partition:
        shards = [
            [
                Unit(u["kind"], u["key"], float(u["cost"]), tuple(u.get("operations", ())))
                for u in units
            ]
            for units in data["shards"]
        ]
        return cls(int(data["count"]), shards)

    def units(self) -> set[tuple[str, tuple[str, ...]]]:
        return {(u.name, u.operations) for units in self.shards for u in units}


def partition(units: Iterable[Unit], count: int) -> Partition:
    """Longest expected cost first, each to the least loaded shard (lowest index on a tie)."""
    plan = Partition(count, [[] for _ in range(count)])
    loads = [0.0] * count
    for unit in sorted(units, key=lambda u: (-u.cost, u.name)):
        target = min(range(count), key=lambda i: (round(loads[i], 6), i))
        plan.shards[target].append(unit)
        loads[target] += unit.cost
    return plan


def interop_links(contract: Contract, selected: set[str]) -> list[Link]:
    """The links interop follows: a create to a read, both selected."""
    method = {op.id: op.method for op in contract.operations}
    return [
        link
        for link in contract.links
        if link.parameters
        and link.source in selected
        and link.target in selected
        and method.get(link.target) == "GET"
    ]


# -- expected cost --------------------------------------------------------------------------
@dataclass(frozen=True)
class OpCost:
    cases: int
    ms: float  # mean milliseconds per case (the slower side)


def _op_ms(op: dict[str, Any]) -> float | None:
    means = []
    for side in (op.get("latency_ms") or {}).values():
        if not isinstance(side, dict):
            continue
        value = side.get("mean")
        if value is None:
            value = side.get("p50")
        if isinstance(value, int | float) and value > 0:
            means.append(float(value))
    return max(means) if means else None


def load_history(report_dir: Path, limit: int = HISTORY_RUNS) -> dict[str, OpCost]:
    """Per operation: cases and mean latency from the newest earlier whole run that ran it
    (a shard's results are left out, so shards run one after another into one report folder
    still plan alike)."""
    if not report_dir.is_dir():
        return {}
    runs = sorted(
        (
            p
            for p in report_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != "latest"
        ),
        key=lambda p: p.name,
        reverse=True,
    )
    out: dict[str, OpCost] = {}
    read = 0
    for run in runs:
        if read >= limit:
            break
        try:
            data = json.loads((run / "results.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("shard"):
            continue  # a shard's own run: its siblings must plan from the same history
        read += 1
        for op in data.get("operations") or []:
            if not isinstance(op, dict) or op.get("id") in out:
                continue
            ms = _op_ms(op)
            cases = op.get("cases")
            if ms is not None and isinstance(cases, int) and cases > 0:
                out[str(op["id"])] = OpCost(cases, round(ms, 3))
    return out


def _probe_count(ops: list[Operation]) -> int:
    """Roughly what ``plan_probes`` sends for one path: undeclared methods, HEAD, OPTIONS,
    and per operation a trailing slash and three auth variants."""
    return 7 + 4 * len(ops)


def plan_units(
    contract: Contract,
    selection: list[Operation],
    profile: Profile,
    *,
    interop: bool,
    history: dict[str, OpCost],
) -> list[Unit]:
    """Every unit of a run's work, with its expected cost."""
    known = [c.ms for c in history.values()]
    default_ms = statistics.median(known) if known else 1.0

    def ms(op_id: str) -> float:
        hit = history.get(op_id)
        return hit.ms if hit else default_ms

    units: list[Unit] = []
    if profile.stateless:
        by_path: dict[str, list[Operation]] = {}
        for op in selection:
            by_path.setdefault(op.path, []).append(op)
        for path, ops in by_path.items():
            cost = 0.0
            for op in ops:
                hit = history.get(op.id)
                cases = hit.cases if hit else profile.positive + profile.negative
                cost += cases * ms(op.id)
            if profile.probes:
                cost += _probe_count(ops) * ms(PROBES)
            units.append(Unit("path", path, round(cost, 3), tuple(op.id for op in ops)))
    else:
        # nothing stateless runs; the operations still belong somewhere (the gate)
        for op in selection:
            units.append(Unit("path", op.path + "#" + op.method, 0.0, (op.id,)))
    ids = {op.id for op in selection}
    if profile.sequence_count > 0:
        linked = [link.target for link in contract.links if link.source in ids]
        step_ms = statistics.mean(ms(t) for t in linked) if linked else default_ms
        for k in range(profile.sequence_count):  # the transition sequences number on
            units.append(Unit("sequence", str(k), round(profile.max_steps * step_ms, 3)))
    if interop and profile.interop:
        links = interop_links(contract, ids)
        for source in sorted({link.source for link in links}):
            reads = sum(1 for link in links if link.source == source)
            cases = profile.interop_cases * 2 * (1 + 2 * reads)
            units.append(Unit("interop", source, round(cases * ms(source), 3)))
    return _unique_paths(units)


def _unique_paths(units: list[Unit]) -> list[Unit]:
    seen: set[str] = set()
    for unit in units:
        if unit.name in seen:
            raise HarnessError(f"shard plan: unit {unit.name} twice", kind="harness")
        seen.add(unit.name)
    return units
