"""``parity bench``'s run order: reads before writes, targets alternating within a cell."""

from __future__ import annotations

from harness.bench.services import TARGETS, BenchRequest, schedule

READ = BenchRequest("GET /api/cases", "GET", "/api/cases")
HEAD = BenchRequest("HEAD /api/cases", "HEAD", "/api/cases")
WRITE = BenchRequest("POST /api/cases", "POST", "/api/cases", body="{}")
DELETE = BenchRequest("DELETE /api/cases/{id}", "delete", "/api/cases/1")


def test_write_methods_are_told_apart() -> None:
    assert not READ.writes
    assert not HEAD.writes
    assert WRITE.writes
    assert DELETE.writes


def test_every_read_runs_before_any_write() -> None:
    # the write is listed first: the order comes from what a request does, not the file
    steps = schedule([WRITE, READ, HEAD], [1, 8], rounds=2)
    kinds = [s.request.writes for s in steps]
    first_write = kinds.index(True)
    assert not any(kinds[:first_write])
    assert all(kinds[first_write:])
    # warm-ups are not samples, and each phase warms its own requests up on both targets
    warm = [(s.phase, s.request.name, s.target) for s in steps if s.warm_up]
    assert sorted(warm) == sorted(
        (phase, r.name, t)
        for phase, rs in (("reads", [READ, HEAD]), ("writes", [WRITE]))
        for r in rs
        for t in TARGETS
    )


def test_each_cell_gets_every_round_of_both_targets_alternating() -> None:
    steps = [s for s in schedule([READ, WRITE], [1, 8, 32], rounds=3) if not s.warm_up]
    assert len(steps) == 2 * 3 * 3 * len(TARGETS)
    for request in (READ, WRITE):
        for level in (1, 8, 32):
            order = [s.target for s in steps if s.request is request and s.connections == level]
            assert order == [*TARGETS, *TARGETS[::-1], *TARGETS]
    done = [(s.phase, s.connections) for s in steps if s.last_of_level]
    assert done == [
        ("reads", 1),
        ("reads", 8),
        ("reads", 32),
        ("writes", 1),
        ("writes", 8),
        ("writes", 32),
    ]


def test_a_read_only_mix_has_no_write_phase() -> None:
    steps = schedule([READ], [1], rounds=1)
    assert {s.phase for s in steps} == {"reads"}
