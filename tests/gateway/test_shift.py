"""The shifter: a schedule advances on agreement, halts without traffic, rolls back on
drift; every move is in the change log; the port's failures fall back and open the breaker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from harness.gateway.breaker import Breakers, BreakerSettings
from harness.gateway.policy import PolicyError
from harness.gateway.schedule import ScheduleSettings
from harness.gateway.shift import Shifter
from harness.gateway.state import RouteTable

ROUTE = "GET /api/cases"


class Wall:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _shifter(tmp_path: Path, wall: Wall) -> Shifter:
    table = RouteTable(tmp_path / "state.json", defaults={ROUTE: ("shadow", None)})
    settings = ScheduleSettings(steps=(10, 50, 100), min_comparisons=100, min_bake_s=60)
    return Shifter(
        table,
        schedules={ROUTE: settings},
        wall_clock=wall,
        breakers=Breakers(BreakerSettings(consecutive=3, open_s=30)),
    )


def _agree(shifter: Shifter, n: int, *, agreed: bool = True) -> None:
    for _ in range(n):
        shifter.compared(ROUTE, agreed=agreed)


def test_schedule_advances_halts_and_rolls_back(tmp_path: Path) -> None:
    wall = Wall()
    s = _shifter(tmp_path, wall)
    s.promote(ROUTE, "start the canary", "ana")
    assert (s.table.get(ROUTE).mode, s.table.get(ROUTE).percent) == ("canary", 10)
    wall.now += 61
    assert s.tick() == []  # no traffic: halted
    assert "too little traffic" in s.snapshot()["routes"][ROUTE]["schedule"]
    assert s.table.get(ROUTE).percent == 10
    _agree(s, 150)
    moved = s.tick()
    assert [v.action for v in moved] == ["advance"]
    assert s.table.get(ROUTE).percent == 50
    _agree(s, 30, agreed=False)  # a drift switched on: 30 of 30 disagree
    assert [v.action for v in s.tick()] == ["rollback"]
    assert (s.table.get(ROUTE).mode, s.table.get(ROUTE).percent) == ("canary", 10)
    wall.now += 1000
    _agree(s, 500)
    assert s.tick() == []  # a rolled-back schedule waits for a person
    log = s.table.changes()
    assert [(c.who, c.after) for c in log] == [
        ("ana", ("canary", 10.0)),
        ("schedule", ("canary", 50.0)),
        ("schedule", ("canary", 10.0)),
    ]
    assert "disagreement" in log[-1].why


def test_schedule_runs_to_port(tmp_path: Path) -> None:
    wall = Wall()
    s = _shifter(tmp_path, wall)
    s.promote(ROUTE, "go", "ana")
    for _ in range(2):
        wall.now += 61
        _agree(s, 120)
        s.tick()
    # 50% agreed: all callers move to the port (nobody is left to compare at 100%)
    assert s.table.get(ROUTE).mode == "port"
    assert [c.after for c in s.table.changes()] == [
        ("canary", 10.0),
        ("canary", 50.0),
        ("port", 100.0),
    ]
    wall.now += 61
    _agree(s, 120)
    assert s.tick() == []
    with pytest.raises(PolicyError, match="no schedule"):
        s.promote("GET /other", "x", "y")


def test_port_down_falls_back_and_opens_the_breaker(tmp_path: Path) -> None:
    s = _shifter(tmp_path, Wall())
    attempts: list[str] = []

    def down(request: httpx.Request) -> httpx.Response:
        attempts.append(request.method)
        raise httpx.ConnectError("refused", request=request)

    async def go() -> list[str | None]:
        sides = []
        async with (
            httpx.AsyncClient(transport=httpx.MockTransport(down)) as port,
            httpx.AsyncClient(
                transport=httpx.MockTransport(lambda r: httpx.Response(200))
            ) as legacy,
        ):
            for _ in range(10):
                served = await s.serve(
                    ROUTE,
                    "GET",
                    lambda t: port.get("http://port/api/cases", timeout=t),
                    lambda t: legacy.get("http://legacy/api/cases", timeout=t),
                )
                sides.append(served.side)
        return sides

    assert asyncio.run(go()) == ["legacy"] * 10
    assert len(attempts) == 3
    snap = s.snapshot()["routes"][ROUTE]
    assert snap["breaker"]["state"] == "open"
    assert snap["fallbacks"] == 10
    assert s.window(ROUTE).evidence().fallbacks == 10


def _budgeted(tmp_path: Path, budgets: dict[str, dict[str, float]]) -> Shifter:
    from harness.gateway.shift import build_shifter
    from harness.setup.gateway import GatewayConfig

    gw = GatewayConfig.model_validate(
        {
            "legacy": "http://127.0.0.1:9",
            "routes": {ROUTE: "shadow", "GET /api/export": "shadow"},
            "shift": {"budget": {"port_s": 30, "total_s": 40}, "budgets": budgets},
        }
    )
    return build_shifter(gw, lambda p: tmp_path / p)


def test_a_route_s_own_budget_times_its_port_out_the_others_keep_the_default(
    tmp_path: Path,
) -> None:
    """``[gateway.shift.budgets]``: the export's port gets 0.05 s and falls back to the
    legacy; the cases list, on the default 30 s budget, waits for its port's 0.2 s."""
    s = _budgeted(tmp_path, {"GET /api/export": {"port_s": 0.05, "total_s": 10}})

    async def slow_port(delay: float) -> httpx.Response:
        await asyncio.sleep(delay)
        return httpx.Response(200, json={"from": "port"})

    async def legacy(timeout: float) -> httpx.Response:
        return httpx.Response(200, json={"from": "legacy"})

    export = asyncio.run(s.serve("GET /api/export", "GET", lambda t: slow_port(5), legacy))
    assert export.side == "legacy"
    assert export.port_error is not None
    assert "Timeout" in export.port_error
    cases = asyncio.run(s.serve(ROUTE, "GET", lambda t: slow_port(0.2), legacy))
    assert cases.side == "port"
    assert s.counters.fallbacks["GET /api/export"] == 1
    assert s.counters.fallbacks[ROUTE] == 0


def test_a_budget_for_an_unknown_route_or_without_room_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"not a configured gateway route.*GET /api/export"):
        _budgeted(tmp_path, {"GET /api/exprot": {"port_s": 1, "total_s": 2}})
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match=r"budgets.'GET /api/export'.*exceeds the total"):
        _budgeted(tmp_path, {"GET /api/export": {"port_s": 5, "total_s": 2}})
