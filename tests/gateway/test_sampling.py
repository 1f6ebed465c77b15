"""The shadow sampler: a request is or is not shadowed by its correlation id alone (the same
answer in every process), and a fraction takes that share of ids within binomial bounds."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.gateway.routes import RouteTable
from harness.gateway.sampling import sampled
from harness.setup.gateway import GatewayConfig

IDS = [f"{i:032x}" for i in range(20_000)]


def test_the_same_id_is_decided_alike_in_another_process() -> None:
    """Python's ``hash`` is salted per process; the sampler must not be."""
    mine = "".join("1" if sampled(cid, 0.3) else "0" for cid in IDS[:500])
    code = (
        "from harness.gateway.sampling import sampled\n"
        "print(''.join('1' if sampled(f'{i:032x}', 0.3) else '0' for i in range(500)))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[2]
    theirs = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=root
    ).stdout.strip()
    assert theirs == mine
    assert all(sampled(cid, 0.3) == (bit == "1") for cid, bit in zip(IDS[:500], mine, strict=True))


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5, 0.9])
def test_a_fraction_takes_that_share_of_ids(fraction: float) -> None:
    n = len(IDS)
    taken = sum(sampled(cid, fraction) for cid in IDS)
    spread = 5 * math.sqrt(n * fraction * (1 - fraction))  # 5 sigma: a false alarm ~1e-6
    assert abs(taken - n * fraction) < spread, (taken, n * fraction)


def test_all_none_and_nested() -> None:
    assert all(sampled(cid, 1.0) for cid in IDS[:1000])
    assert not any(sampled(cid, 0.0) for cid in IDS[:1000])
    # a larger fraction keeps every id a smaller one took (raising it only adds requests)
    assert all(sampled(cid, 0.5) for cid in IDS if sampled(cid, 0.2))


def test_route_fraction_overrides_the_gateway_default() -> None:
    gw = GatewayConfig(
        shadow_fraction=0.25,
        routes={"/a*": {"mode": "shadow", "shadow_fraction": 1.0}, "/b*": "shadow"},
    )
    table = RouteTable(gw, None)
    assert table.route("GET", "/a/1").fraction == 1.0
    assert table.route("GET", "/b/1").fraction == 0.25
    assert table.route("GET", "/c").fraction == 0.25
