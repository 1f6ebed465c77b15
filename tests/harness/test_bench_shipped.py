"""``parity bench`` on the shipped pair: both services loaded, every cell measured on both,
nothing left running."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psutil
import pytest

from harness.cli import main

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = ["GET /api/cases", "GET /api/pulse", "POST /api/cases"]


@pytest.mark.skipif(
    not (ROOT / "legacy" / ".next" / "BUILD_ID").is_file(), reason="legacy is not built"
)
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_bench_measures_both_services_on_every_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    # what this worker already runs (an earlier test's in-process run leaves multiprocessing's
    # resource tracker for the life of the process): only what the bench starts must be gone
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    argv = ["bench", "--levels", "1,4", "--seconds", "1", "--rounds", "1"]
    for name in REQUESTS:
        argv += ["--request", name]
    assert main([*argv, "--report-dir", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "latest" / "bench.json").read_text())
    cells = {(c["request"], c["connections"]): c for c in result["cells"]}
    assert set(cells) == {(r, level) for r in REQUESTS for level in (1, 4)}
    for cell in cells.values():
        for target in ("legacy", "candidate"):
            assert len(cell[target]) == 1, cell
            assert cell["rps"][target] > 0, cell
            assert cell["errors"][target] == 0, cell  # no refused, timed out or non-2xx answer
        assert cell["rps_ratio"] == pytest.approx(cell["rps"]["candidate"] / cell["rps"]["legacy"])
    assert result["peak_rss_mib"]["legacy"] > 0
    assert result["peak_rss_mib"]["candidate"] > 0
    left = [p for p in psutil.Process().children(recursive=True) if p.pid not in before]
    assert left == []
