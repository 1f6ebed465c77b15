"""``parity traffic reduce --coverage`` on the managed pair: a request that repeats a kept
request's signature (operation, role, status, shape, parameters) but runs a branch of the
port that request does not is kept with coverage and dropped without; a request that runs
nothing new is dropped both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    Exchange,
    Header,
    Timings,
)
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]


def _search(seq: int, q: str) -> Exchange:
    """A search that finds nothing: the same answer's shape whatever ``q`` is."""
    answer = {"query": q, "scope": "all", "total": 0, "results": []}
    return Exchange(
        seq=seq,
        caller="c1",
        request=CapturedRequest(method="GET", path="/api/search", query=[("q", q)]),
        answer=CapturedAnswer(
            status=200, body=Body(media_type="application/json", text=json.dumps(answer))
        ),
        timings=Timings(started=datetime.now(UTC)),
    )


def _kept(out: Path) -> list[int]:
    lines = out.read_text().splitlines()[1:]
    return [json.loads(line)["seq"] for line in lines]


def test_coverage_keeps_a_request_that_takes_another_branch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "search.jsonl"
    Capture(
        Header(created=datetime.now(UTC), source="test"),
        [
            _search(0, "zqxwvy"),  # words: the full-text search runs (and finds nothing)
            _search(1, "!?"),  # no letter or digit: no full-text query at all (another branch)
            _search(2, "yvwxqz"),  # the first one's path again
        ],
    ).write(capture)
    config = mutant_config(tmp_path, None, snapshot=seeded_database(Path("/tmp/parity-mutants")))
    plain, covered = tmp_path / "plain.jsonl", tmp_path / "covered.jsonl"
    argv = ["traffic", "reduce", str(capture), "--config", str(config)]
    assert main([*argv, "--out", str(plain)]) == 0
    assert _kept(plain) == [0]
    assert "for coverage" not in capsys.readouterr().out
    assert main([*argv, "--out", str(covered), "--coverage"]) == 0
    out = capsys.readouterr().out
    assert _kept(covered) == [0, 1], out
    assert "1 kept for coverage of the port (+0 they need)" in out
    assert "coverage: 3 of 3 replayed requests ran port code" in out
