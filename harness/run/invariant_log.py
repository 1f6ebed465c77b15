"""Invariants on both targets after a step, and the record of what each one found.

Broken on one side only is drift (a difference of the step); broken on both is a legacy bug
the port inherited, listed apart. An invariant no step reached is "not checked", not "holds".
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.normalization import JsonText
from harness.db.invariants import (
    Invariant,
    InvariantResult,
    Probe,
    StepInfo,
    compare_outcomes,
    open_read_only,
    probe_invariants,
    run_invariants,
)
from harness.models import NOT_SET, Difference, PreparedRequest, Writes
from harness.pair.targets import Pair

__all__ = ["InvariantLog", "plain_writes"]


@dataclass
class InvariantLog:
    pair: Pair
    defs: list[Invariant]
    api_role: str | None
    checks: Counter[str] = field(default_factory=Counter)  # steps each invariant was checked on
    broken: list[dict[str, Any]] = field(default_factory=list)
    reused: int = 0  # checks answered by the baseline's result (nothing they read was written)
    _conns: dict[str, sqlite3.Connection] = field(default_factory=dict)
    _probes: dict[str, dict[str, Probe]] = field(default_factory=dict)

    def check(
        self,
        req: PreparedRequest,
        statuses: tuple[int, int],
        writes: tuple[Writes, Writes],
        *,
        per_step: bool = True,
        changed: tuple[bool, bool] = (True, True),
        earlier: tuple[set[str], set[str]] = (set(), set()),
    ) -> list[Difference]:
        """Both targets' invariants after ``req``. ``per_step=False`` (a stateful step): the
        writes are the whole sequence's so far, so the checks that read a step's own writes
        are skipped and the rest run on the state the sequence has built. ``changed``: per
        side, whether its database changed since the baseline at all. ``earlier``: per side,
        the tables earlier steps wrote when ``writes`` are this step's own (a replay): an
        invariant reading one of them cannot keep its baseline result."""
        started = time.perf_counter()
        steps = {
            key: StepInfo(req.method, req.path, status, LazyPlainWrites(w))
            for key, status, w in zip(("legacy", "candidate"), statuses, writes, strict=True)
        }
        moved = dict(zip(("legacy", "candidate"), changed, strict=True))
        before = dict(zip(("legacy", "candidate"), earlier, strict=True))
        res = self.pair.each(
            list(steps),
            lambda key: self._side(key, steps[key], per_step, moved[key], before[key]),
        )
        for name in {r.name for side in res.values() for r in side if not r.skipped}:
            self.checks[name] += 1
        out: list[Difference] = []
        for outcome in compare_outcomes(res["legacy"], res["candidate"]):
            verdict = outcome.verdict
            if verdict in ("candidate", "legacy"):
                bad = outcome.candidate if verdict == "candidate" else outcome.legacy
                self._note(outcome.name, verdict, bad.message)
                out.append(
                    Difference(
                        f"invariant:{outcome.name}",
                        "invariant",
                        outcome.name,
                        outcome.legacy.message or "holds",
                        outcome.candidate.message or "holds",
                        f"{outcome.name} broken on {verdict} only: {bad.message}",
                    )
                )
            elif verdict == "both":
                self._note(
                    outcome.name, "both", outcome.legacy.message, req=req, status=statuses[0]
                )
        self.pair.timings.invariants += time.perf_counter() - started
        return out

    def _side(
        self, key: str, step: StepInfo, per_step: bool, changed: bool, earlier: set[str]
    ) -> list[InvariantResult]:
        """One target's results: each invariant that can have changed is checked; one whose
        tables (as probed on the baseline) nothing wrote keeps its baseline result."""
        watcher = self.pair.watchers[key]
        written = set(step.writes) | earlier
        changed = changed or bool(earlier)
        probes = self._probes_of(key)
        reuse: dict[str, InvariantResult] = {}
        for name, probe in probes.items():
            if probe.reads is not None and (not changed or (written and not probe.reads & written)):
                reuse[name] = probe.result
        todo = [inv for inv in self.defs if inv.name not in reuse]
        conn = self._conns.get(key)
        if conn is None and getattr(watcher, "engine", "") == "sqlite":
            conn = self._conns[key] = open_read_only(Path(watcher.live))
        ran = run_invariants(
            todo,
            watcher.live,
            step=step if per_step else None,
            api=self._api_get(key),
            written=written,
            connection=conn,
        )
        if not reuse:
            return ran
        self.reused += len(reuse)
        by_name = {r.name: r for r in ran}
        return [reuse.get(inv.name) or by_name[inv.name] for inv in self.defs]

    def _probes_of(self, key: str) -> dict[str, Probe]:
        """The baseline probes of ``key`` (SQLite targets with a baseline copy only)."""
        hit = self._probes.get(key)
        if hit is None:
            watcher = self.pair.watchers[key]
            baseline = getattr(watcher, "baseline", None)
            tables = getattr(watcher, "tables", None)
            hit = {}
            if isinstance(baseline, Path) and isinstance(tables, list) and baseline.is_file():
                hit = probe_invariants(self.defs, baseline, [name for name, _ in tables])
            self._probes[key] = hit
        return hit

    def close(self) -> None:
        for conn in self._conns.values():
            conn.close()
        self._conns.clear()

    def _api_get(self, key: str) -> Callable[[str], tuple[int, Any]]:
        """``ctx.api`` for invariants on ``key``: a GET as the ``[invariants] api_role``."""

        def get(target: str) -> tuple[int, Any]:
            path, _, query = target.partition("?")
            req = PreparedRequest(
                operation=f"GET {path}",
                method="GET",
                path=path,
                query=tuple(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                headers=(("accept", "application/json"),),
                content=None,
                body=NOT_SET,
                media_type=None,
                role=self.api_role,
                mode="invariant",
                shrinkable=False,
            )
            resp = self.pair.send_one(key, req)
            return resp.status, resp.body

        return get

    def _note(
        self,
        name: str,
        target: str,
        message: str,
        *,
        req: PreparedRequest | None = None,
        status: int | None = None,
    ) -> None:
        for item in self.broken:
            if item["name"] == name and item["target"] == target:
                item["count"] += 1
                return
        entry: dict[str, Any] = {
            "name": name,
            "target": target,
            "passed": False,
            "message": message,
            "count": 1,
        }
        if req is not None:
            entry.update(against="legacy", operation=req.operation, request=req, status=status)
        self.broken.append(entry)

    def summary(self) -> list[dict[str, Any]]:
        """Every invariant: the broken ones as recorded, then each that held or was never
        reached. Entries of inherited bugs carry the PreparedRequest under ``request``."""
        broken = {item["name"] for item in self.broken}
        held: list[dict[str, Any]] = []
        unchecked: list[dict[str, Any]] = []
        for inv in self.defs:
            if inv.name in broken:
                continue
            checks = self.checks[inv.name]
            item = {"name": inv.name, "target": None, "passed": True, "checks": checks}
            if checks:
                held.append({**item, "message": inv.description})
            else:
                wrote = "wrote " + ", ".join(inv.tables) if inv.tables else "wrote to the database"
                message = f"not checked: no step of this run {wrote} ({inv.description})"
                unchecked.append({**item, "skipped": True, "message": message})
        return [*self.broken, *held, *unchecked]


def _plain(value: Any) -> Any:
    return value.raw if isinstance(value, JsonText) else value


class LazyPlainWrites(Mapping[str, dict[str, list[dict[str, Any]]]]):
    """``plain_writes(writes)``, table by table as an invariant asks for it (most read one
    table of a step, or none, while a step may have written thousands of rows)."""

    def __init__(self, writes: Writes) -> None:
        self._writes = writes
        self._done: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def __getitem__(self, table: str) -> dict[str, list[dict[str, Any]]]:
        hit = self._done.get(table)
        if hit is None:
            hit = self._done[table] = plain_writes({table: self._writes[table]})[table]
        return hit

    def __iter__(self) -> Iterator[str]:
        return iter(self._writes)

    def __len__(self) -> int:
        return len(self._writes)


def plain_writes(writes: Writes) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table, tw in writes.items():
        out[table] = {
            "inserted": [{k: _plain(v) for k, v in r.items()} for r in tw.inserted],
            "deleted": [{k: _plain(v) for k, v in r.items()} for r in tw.deleted],
            "updated": [{k: _plain(v) for k, v in r["after"].items()} for r in tw.updated],
        }
    return out
