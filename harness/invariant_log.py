"""Invariants on both targets after a step, and the record of what each one found.

Broken on one side only is drift (a difference of the step); broken on both is a legacy bug
the port inherited, listed apart. An invariant no step reached is "not checked", not "holds".
"""

from __future__ import annotations

import time
import urllib.parse
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.invariants import Invariant, StepInfo, compare_outcomes, run_invariants
from harness.models import NOT_SET, Difference, PreparedRequest, Writes
from harness.normalization import JsonText
from harness.pair import Pair

__all__ = ["InvariantLog", "plain_writes"]


@dataclass
class InvariantLog:
    pair: Pair
    defs: list[Invariant]
    api_role: str | None
    checks: Counter[str] = field(default_factory=Counter)  # steps each invariant was checked on
    broken: list[dict[str, Any]] = field(default_factory=list)

    def check(
        self,
        req: PreparedRequest,
        statuses: tuple[int, int],
        writes: tuple[Writes, Writes],
        *,
        per_step: bool = True,
    ) -> list[Difference]:
        """Both targets' invariants after ``req``. ``per_step=False`` (a stateful step): the
        writes are the whole sequence's so far, so the checks that read a step's own writes
        are skipped and the rest run on the state the sequence has built."""
        started = time.perf_counter()
        steps = {
            key: StepInfo(req.method, req.path, status, plain_writes(w))
            for key, status, w in zip(("legacy", "candidate"), statuses, writes, strict=True)
        }
        res = self.pair.each(
            list(steps),
            lambda key: run_invariants(
                self.defs,
                self.pair.watchers[key].live,
                step=steps[key] if per_step else None,
                api=self._api_get(key),
                written=set(steps[key].writes),
            ),
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


def plain_writes(writes: Writes) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table, tw in writes.items():
        out[table] = {
            "inserted": [{k: _plain(v) for k, v in r.items()} for r in tw.inserted],
            "deleted": [{k: _plain(v) for k, v in r.items()} for r in tw.deleted],
            "updated": [{k: _plain(v) for k, v in r["after"].items()} for r in tw.updated],
        }
    return out
