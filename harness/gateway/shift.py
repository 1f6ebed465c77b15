"""The shifting side of the gateway in one object the app calls: who serves a request, the
port with its breaker and fallback, the evidence for each route's schedule, and the admin
verbs (``shift``, ``promote``, ``snapshot``).

The app asks ``choose`` per request; for a request the port serves it calls ``serve`` (which
falls back to the legacy when the rules allow); it reports each live comparison with
``compared``; and it calls ``tick`` now and then (a background task) so that schedules move.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from harness.errors import HarnessError
from harness.gateway.breaker import Breakers, BreakerSettings
from harness.gateway.fallback import Budget, Counters, SendFn, Served, serve
from harness.gateway.identity import IdentityResolver, IdentitySource, http_me_fetcher
from harness.gateway.policy import Choice, PolicyError, choose
from harness.gateway.schedule import (
    EvidenceWindow,
    ScheduleSettings,
    ScheduleState,
    Verdict,
    evaluate,
    start,
)
from harness.gateway.state import Change, RouteTable
from harness.setup.gateway import GatewayConfig, RouteSettings
from harness.setup.shift import BudgetConfig

__all__ = ["AGREED", "Shifter", "build_shifter"]

#: comparison results (the worker's) that count as agreement for a schedule
AGREED = frozenset({"agree", "accepted", "raced_cleared"})


class Shifter:
    """Routes' modes, breakers, fallbacks and schedules for one gateway process."""

    def __init__(
        self,
        table: RouteTable,
        *,
        identity: IdentityResolver | None = None,
        breakers: Breakers | None = None,
        budget: Budget | None = None,
        budgets: Mapping[str, Budget] | None = None,
        schedules: Mapping[str, ScheduleSettings] | None = None,
        seed: str = "",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.identity = identity
        self.breakers = breakers or Breakers()
        self.budget = budget or Budget()
        self.budgets = dict(budgets or {})  # per route; ``budget`` for the others
        self.schedules = dict(schedules or {})
        self.seed = seed
        self.wall_clock = wall_clock
        self.counters = Counters()
        self.served: Counter[tuple[str, str]] = Counter()
        self.windows: dict[str, EvidenceWindow] = {}
        self.verdicts: dict[str, Verdict] = {}

    async def choose(self, route: str, headers: Mapping[str, str]) -> Choice:
        setting = self.table.get(route)
        who = None
        if setting.mode == "canary" and self.identity is not None:
            who = await self.identity.resolve(headers)
        return choose(setting.mode, setting.percent, who, route, self.seed)

    async def serve(
        self, route: str, method: str, send_port: SendFn, send_legacy: SendFn
    ) -> Served:
        """A request the port should answer: breaker, budget and fallback rules applied."""
        started = time.perf_counter()
        served = await serve(
            route,
            method,
            send_port,
            send_legacy,
            budget=self.budgets.get(route, self.budget),
            breaker=self.breakers[route],
            counters=self.counters,
        )
        ms = (time.perf_counter() - started) * 1000
        side = served.side or "error"
        self.served[(route, side)] += 1
        failed = served.error is not None or served.port_error is not None
        self.window(route).served("port", ms, error=failed, fallback=served.fallback is not None)
        return served

    async def aclose(self) -> None:
        """Close the identity lookups' client (the gateway's lifespan shutdown calls this)."""
        if self.identity is not None:
            await self.identity.aclose()

    def legacy_served(self, route: str, ms: float) -> None:
        """A request the legacy answered by choice (its p95 is the schedule's yardstick)."""
        self.served[(route, "legacy")] += 1
        self.window(route).served("legacy", ms)

    def compared(self, route: str, *, agreed: bool) -> None:
        self.window(route).compared(agreed=agreed)

    def window(self, route: str) -> EvidenceWindow:
        return self.windows.setdefault(route, EvidenceWindow())

    def shift(self, route: str, mode: str, percent: float | None, reason: str, who: str) -> Change:
        """The admin verb: a person sets a route's mode (any schedule on it stops)."""
        change = self.table.shift(route, mode, percent, reason, who)
        self.window(route).reset()
        return change

    def promote(self, route: str, reason: str, who: str) -> Change:
        """Start the route's schedule at its first step."""
        settings = self.schedules.get(route)
        if settings is None:
            raise PolicyError(f"route {route!r} has no schedule (steps) configured")
        state = start(self.wall_clock())
        change = self.table.shift(
            route, "canary", settings.steps[0], reason, who, schedule=asdict(state)
        )
        self.window(route).reset()
        return change

    def tick(self) -> list[Verdict]:
        """Evaluate every running schedule once; apply and log what moves."""
        moved: list[Verdict] = []
        now = self.wall_clock()
        for route, setting in self.table.routes().items():
            settings = self.schedules.get(route)
            if settings is None or setting.schedule is None or setting.mode != "canary":
                continue
            state = ScheduleState(**setting.schedule)
            verdict = evaluate(settings, state, self.window(route).evidence(), now)
            self.verdicts[route] = verdict
            if verdict.action in ("advance", "rollback", "done"):
                mode, percent = (
                    ("canary", verdict.percent) if verdict.percent > 0 else ("shadow", None)
                )
                if verdict.action in ("advance", "done") and verdict.percent >= 100:
                    # all callers on the port: the evidence was the last step's (a canary
                    # at 100% has nobody left on the legacy to compare against)
                    mode, percent = "port", None
                self.table.shift(
                    route,
                    mode,
                    percent,
                    verdict.reason,
                    "schedule",
                    kind="schedule",
                    schedule=asdict(verdict.state) if mode == "canary" else None,
                )
                self.window(route).reset()
                moved.append(verdict)
            elif verdict.state != state:
                self.table.set_schedule(route, asdict(verdict.state))
        return moved

    def snapshot(self) -> dict[str, Any]:
        """Per route: mode, percent, breaker, fallbacks, schedule: the admin API and report."""
        routes: dict[str, Any] = {}
        breakers = self.breakers.snapshot()
        for route, setting in self.table.routes().items():
            verdict = self.verdicts.get(route)
            routes[route] = {
                "mode": setting.mode,
                "percent": setting.percent,
                "changed_by": setting.who,
                "changed_why": setting.why,
                "breaker": breakers.get(route, {"state": "closed"}),
                "fallbacks": self.counters.fallbacks[route],
                "ambiguous_errors": self.counters.ambiguous[route],
                "served_port": self.served[(route, "port")],
                "served_legacy": self.served[(route, "legacy")],
                "schedule": None if verdict is None else verdict.reason,
            }
        return {
            "routes": routes,
            "changes": [c.model_dump(mode="json") for c in self.table.changes(50)],
        }


def _route_budgets(
    configured: Mapping[str, BudgetConfig], table: RouteTable | None
) -> dict[str, Budget]:
    """``[gateway.shift.budgets]``: each key a configured route (a typo is an error naming
    the routes there are, never a budget silently unused), each budget checked as a whole."""
    budgets: dict[str, Budget] = {}
    for route, b in configured.items():
        if table is not None:
            table.get(route)  # PolicyError: not a configured route
        try:
            budgets[route] = Budget(b.port_s, b.legacy_s, b.total_s)
        except HarnessError as exc:
            raise HarnessError(f"[gateway.shift.budgets.{route!r}]: {exc.message}") from exc
    return budgets


def build_shifter(
    gw: GatewayConfig,
    resolve: Callable[[str], Path],
    *,
    everything: tuple[str, float | None] | None = None,
) -> Shifter:
    """A Shifter from ``[gateway]``: routes from ``[gateway.routes]``, the rest from
    ``[gateway.shift]``; the me lookups go to the legacy with the caller's credential.
    ``everything`` (``parity gateway --mode port``): every request in one mode, in memory."""
    cfg = gw.shift
    if everything is not None:
        table = RouteTable(None, defaults={"*": everything}, databases=gw.databases)
    else:
        defaults: dict[str, tuple[str, float | None]] = {
            key: (value.mode if isinstance(value, RouteSettings) else value, None)
            for key, value in gw.routes.items()
        }
        table = RouteTable(resolve(cfg.state_file), defaults=defaults, databases=gw.databases)
    ident = cfg.identity
    source = IdentitySource(
        ident.kind, ident.name, ident.path, ident.session_cookie, ttl_s=ident.ttl_s
    )
    fetch = None
    if ident.kind == "me" and gw.legacy:
        client = httpx.AsyncClient(timeout=httpx.Timeout(5.0), trust_env=False)
        fetch = http_me_fetcher(client, gw.legacy, ident.path)
    b = cfg.breaker
    return Shifter(
        table,
        identity=IdentityResolver(source, fetch),
        breakers=Breakers(
            BreakerSettings(
                consecutive=b.consecutive,
                error_rate=b.error_rate,
                window_s=b.window_s,
                min_requests=b.min_requests,
                open_s=b.open_s,
            )
        ),
        budget=Budget(cfg.budget.port_s, cfg.budget.legacy_s, cfg.budget.total_s),
        budgets=_route_budgets(cfg.budgets, table if everything is None else None),
        schedules={
            route: ScheduleSettings(
                steps=tuple(sc.steps),
                min_comparisons=sc.min_comparisons,
                min_bake_s=sc.min_bake_s,
                agreement=sc.agreement,
                p95_factor=sc.p95_factor,
                max_error_rate=sc.max_error_rate,
                max_fallback_rate=sc.max_fallback_rate,
                max_disagreement_rate=sc.max_disagreement_rate,
                rollback_min_samples=sc.rollback_min_samples,
            )
            for route, sc in cfg.schedules.items()
        },
        seed=cfg.seed,
    )
