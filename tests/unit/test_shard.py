"""The shard partition: deterministic, every unit exactly once, balanced by expected cost."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from harness.cases.sequences import StatefulRunner
from harness.errors import HarnessError
from harness.run.partition import (
    Partition,
    Unit,
    load_history,
    parse_shard,
    partition,
    plan_units,
)
from harness.setup.config import Profile
from harness.setup.contract import Contract, load_contract

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pair"


@pytest.fixture(scope="module")
def contract() -> Contract:
    return load_contract(FIXTURE / "openapi.yaml")


def _units(seed: int, n: int = 60) -> list[Unit]:
    rng = random.Random(seed)
    return [
        Unit("path", f"/p{i}", round(rng.uniform(1, 100), 3), (f"GET /p{i}",)) for i in range(n)
    ]


def test_parse_shard() -> None:
    assert (parse_shard("2/3").index, parse_shard("2/3").count) == (2, 3)
    for bad in ("0/2", "3/2", "1/0", "a/b", "1"):
        with pytest.raises(HarnessError):
            parse_shard(bad)


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_every_unit_goes_to_exactly_one_shard(count: int) -> None:
    units = _units(1)
    plan = partition(units, count)
    placed = [u.name for shard in plan.shards for u in shard]
    assert sorted(placed) == sorted(u.name for u in units)
    assert len(plan.shards) == count


def test_same_inputs_same_partition_whatever_their_order() -> None:
    units = _units(2)
    shuffled = list(units)
    random.Random(9).shuffle(shuffled)
    first, second = partition(units, 3), partition(shuffled, 3)
    assert first.digest == second.digest
    assert [[u.name for u in s] for s in first.shards] == [
        [u.name for u in s] for s in second.shards
    ]
    # and the plan survives a round trip through JSON (--workers hands it to its workers)
    again = Partition.from_json(json.loads(json.dumps(first.to_json())))
    assert again.digest == first.digest


def test_balanced_by_expected_cost() -> None:
    units = _units(3)
    for count in (2, 3, 4):
        loads = partition(units, count).loads()
        total = sum(u.cost for u in units)
        biggest = max(u.cost for u in units)
        # longest-first greedy: no shard exceeds the mean by more than one unit's cost
        assert max(loads) <= total / count + biggest
        assert max(loads) - min(loads) <= biggest
    # one expensive unit and many cheap ones: the cheap ones fill the other shard
    skewed = [Unit("path", "/big", 50.0, ("GET /big",))] + [
        Unit("path", f"/s{i}", 1.0, (f"GET /s{i}",)) for i in range(50)
    ]
    assert partition(skewed, 2).loads() == [50.0, 50.0]


def test_plan_units_cover_paths_sequences_and_interop(contract: Contract) -> None:
    profile = Profile(stateful_sequences=5, interop=True)
    units = plan_units(contract, contract.operations, profile, interop=True, history={})
    paths = [u for u in units if u.kind == "path"]
    assert sorted(op for u in paths for op in u.operations) == sorted(
        op.id for op in contract.operations
    )
    # the operations of one path stay together (their probes need the declared methods)
    items = next(u for u in paths if u.key == "/items")
    assert set(items.operations) == {"GET /items", "POST /items"}
    assert [u.key for u in units if u.kind == "sequence"] == ["0", "1", "2", "3", "4"]
    assert [u.key for u in units if u.kind == "interop"] == ["POST /items"]
    # without history a unit costs its cases
    assert items.cost == 2 * (profile.positive + profile.negative) + 7 + 4 * 2


def test_history_weighs_units_by_measured_latency(contract: Contract, tmp_path: Path) -> None:
    run = tmp_path / "20260101T000000Z-abcd"
    run.mkdir()
    slow = {"p50": 40.0, "p95": 50.0, "max": 60.0, "mean": 45.0}
    fast = {"p50": 1.0, "p95": 1.0, "max": 1.0}
    ops = [
        {"id": "GET /items", "cases": 10, "latency_ms": {"legacy": slow, "candidate": fast}},
        {"id": "GET /health", "cases": 4, "latency_ms": {"legacy": fast, "candidate": fast}},
    ]
    (run / "results.json").write_text(json.dumps({"operations": ops}))
    (tmp_path / "latest").mkdir()  # a copy of a run: not read twice
    history = load_history(tmp_path)
    assert history["GET /items"].ms == 45.0
    assert history["GET /items"].cases == 10
    profile = Profile(probes=False)
    units = {
        u.key: u
        for u in plan_units(contract, contract.operations, profile, interop=False, history=history)
    }
    assert units["/health"].cost == 4 * 1.0
    # POST /items has no history: it costs its expected cases at the median latency
    assert units["/items"].cost == pytest.approx(10 * 45.0 + 45 * 23.0)


def test_a_sequence_draws_the_same_whichever_sequences_ran_before(contract: Contract) -> None:
    def runner() -> StatefulRunner:
        return StatefulRunner(
            contract,
            {op.id for op in contract.operations},
            lambda _op: [],
            lambda _a, _b: None,  # type: ignore[arg-type,return-value]
            lambda: None,
            lambda _r: False,
            seed=5,
            max_steps=3,
        )

    one, two = runner(), runner()
    one.start_sequence(3)
    first = [one.rng.random() for _ in range(3)]
    for k in (0, 1, 2):
        two.start_sequence(k)
        two.rng.random()
    two.start_sequence(3)
    assert [two.rng.random() for _ in range(3)] == first
