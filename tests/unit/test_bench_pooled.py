"""The gateway bench's tail figure: the rounds' wrk histograms pooled into one distribution,
and the p99 line that sets shadow against pass-through."""

from __future__ import annotations

from harness.bench.gateway import _p99_line
from harness.bench.services import Sample, pooled_percentile


def _sample(hist: tuple[tuple[int, int], ...]) -> Sample:
    n = sum(c for _, c in hist)
    return Sample(1.0, 0.0, 0.0, 0.0, 0.0, 0, 0, n, histogram=hist)


def test_pooled_percentile_adds_the_rounds_histograms() -> None:
    calm = _sample(((1000, 98), (2000, 2)))  # alone: p99 2 ms
    slow = _sample(((1000, 90), (9000, 10)))  # alone: p99 9 ms
    assert pooled_percentile([calm], 99) == 2.0
    assert pooled_percentile([slow], 99) == 9.0
    # 200 answers: 12 over 1 ms, 10 of them 9 ms; the 198th is 9 ms
    assert pooled_percentile([calm, slow], 99) == 9.0
    assert pooled_percentile([calm, slow], 90) == 1.0
    assert pooled_percentile([calm, _sample(())], 99) is None  # a round without one: unknown


def test_the_p99_line_gives_pooled_median_and_best_ratios() -> None:
    shadow = {
        "connections": 8,
        "gateway_p99_ms": 12.0,
        "gateway_pooled_p99_ms": 11.0,
        "round_p99_ms": [12.0, 20.0, 13.0],
        "shadowed_share": 0.25,
    }
    base = {
        "connections": 8,
        "gateway_p99_ms": 10.0,
        "gateway_pooled_p99_ms": 10.0,
        "round_p99_ms": [10.0, 10.0, 13.0],
    }
    line = _p99_line(shadow, base)
    assert "at  8 connections" in line
    assert "pooled 1.10 (11.0 / 10.0 ms)" in line
    assert "median of rounds 1.20" in line  # 1.2, 2.0, 1.0
    assert "best rounds 1.20" in line
    assert "reads shadowed 25.0%" in line
