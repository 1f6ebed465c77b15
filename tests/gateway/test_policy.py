"""Canary selection: the share is the percent, sticky per caller, monotonic as it grows."""

from __future__ import annotations

import pytest

from harness.gateway.policy import PolicyError, bucket, choose, validate_mode

ROUTE = "GET /api/cases"


def _port_share(identities: list[str], percent: float, route: str = ROUTE) -> set[str]:
    return {i for i in identities if choose("canary", percent, i, route, "s").side == "port"}


def test_share_of_1000_callers_is_the_percent() -> None:
    callers = [f"user-{n}" for n in range(1000)]
    for percent in (10, 50):
        share = len(_port_share(callers, percent)) / 10
        assert percent - 3 <= share <= percent + 3, (percent, share)
    assert _port_share(callers, 0) == set()
    assert len(_port_share(callers, 100)) == 1000


def test_growing_the_percent_only_adds_callers() -> None:
    callers = [f"user-{n}" for n in range(1000)]
    at10, at50 = _port_share(callers, 10), _port_share(callers, 50)
    assert at10 < at50


def test_sticky_and_independent_per_route_and_seed() -> None:
    assert bucket("u1", ROUTE, "s") == bucket("u1", ROUTE, "s")
    assert 0 <= bucket("u1", ROUTE, "s") < 100
    callers = [f"user-{n}" for n in range(1000)]
    other = _port_share(callers, 10, "GET /api/alerts")
    # another route picks another ~10% (not the same callers every time)
    assert len(other & _port_share(callers, 10)) < 40
    assert bucket("u1", ROUTE, "a") != bucket("u1", ROUTE, "b")


def test_modes() -> None:
    assert choose("legacy", 0, "u", ROUTE).side == "legacy"
    assert not choose("legacy", 0, "u", ROUTE).shadow
    assert choose("shadow", 0, "u", ROUTE).shadow
    assert choose("port", 100, None, ROUTE).side == "port"
    anonymous = choose("canary", 99, None, ROUTE)
    assert anonymous.side == "legacy"
    assert anonymous.shadow  # the legacy side of a canary is shadowed


def test_validate_refuses_canary_and_port_on_separate_databases() -> None:
    for mode in ("canary", "port"):
        with pytest.raises(PolicyError, match="shared database"):
            validate_mode(mode, 10 if mode == "canary" else None, "separate")
    assert validate_mode("shadow", None, "separate") == ("shadow", 0.0)
    assert validate_mode("canary", 10, "shared") == ("canary", 10.0)
    assert validate_mode("port", None, "shared") == ("port", 100.0)
    with pytest.raises(PolicyError, match="needs a percent"):
        validate_mode("canary", None, "shared")
    with pytest.raises(PolicyError, match="outside"):
        validate_mode("canary", 120, "shared")
    with pytest.raises(PolicyError, match="not one of"):
        validate_mode("blue", None, "shared")
    with pytest.raises(PolicyError, match="takes no percent"):
        validate_mode("shadow", 10, "shared")
