"""Issue 26: a mutant only a sequence that crosses states catches, caught with the transition
sequences on and missed with them off (same seed, same profile otherwise).

``alerts-status-filter-stale`` answers every single request right on the restored snapshot,
and the reads after one write (the item, the unfiltered lists) too: only a create or a seeded
row moved by acknowledge/resolve, then ``GET /api/alerts?status=`` before the restore, shows
the row under its old state. Three runs aimed at ``GET /api/alerts`` (``ci``, seed 7): the
unmutated port (its findings are not detections), the mutant, the mutant with
``transitions = false``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.mutants.catalogue import get
from tests.mutants.runner import CONFIG, Outcome, detections, mutant_config, run_parity
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.mutants,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

NAME = "alerts-status-filter-stale"
SEED = int(os.environ.get("PARITY_MUTANT_SEED", "7"))
JOBS = int(os.environ.get("PARITY_MUTANT_JOBS", "2"))
OFF = "ci-no-transitions"


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Outcome]]:
    work = Path(tempfile.mkdtemp(prefix="parity-transition-mutant-"))
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    ci = tomllib.loads(CONFIG.read_text())["profiles"]["ci"]
    assert ci.get("transition_sequences", 0) > 0, "the ci profile sends no transition sequences"
    extra = {OFF: {**ci, "transitions": False}}
    mutant = get(NAME)

    def one(label: str, name: str | None, profile: str) -> tuple[str, Outcome]:
        config = mutant_config(work / label, name, snapshot=snapshot, extra_profiles=extra)
        return label, run_parity(
            config,
            mutant.operations,
            profile=profile,
            seed=SEED,
            report_dir=work / "reports" / label,
            timeout=600,
        )

    plan = [("unmutated", None, "ci"), ("on", NAME, "ci"), ("off", NAME, OFF)]
    try:
        for label, _name, _profile in plan:
            (work / label).mkdir(parents=True)
        # the three runs are independent: side by side, as the catalogue's are
        with ThreadPoolExecutor(max_workers=max(1, min(JOBS, len(plan)))) as pool:
            out = dict(pool.map(lambda args: one(*args), plan))
        for label, outcome in out.items():
            assert outcome.exit_code != 2, (label, outcome.output[-3000:])
        yield out
    finally:
        if os.environ.get("PARITY_MUTANT_KEEP"):
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _transitions(outcome: Outcome) -> int:
    stats: dict[str, Any] = ((outcome.results or {}).get("stats") or {}).get("stateful") or {}
    return int(stats.get("transition_sequences", 0))


@pytest.mark.timeout(1800)
def test_caught_only_by_transition_sequences(runs: dict[str, Outcome]) -> None:
    mutant = get(NAME)
    baseline = runs["unmutated"]
    assert not baseline.findings, baseline.findings
    assert _transitions(baseline) > 0

    on = detections(runs["on"], mutant, baseline.keys())
    assert on, f"{NAME} escaped with the transition sequences on: {runs['on'].findings}"
    assert runs["on"].exit_code == 1
    # the finding is a sequence: a write that moved the row, then the read filtered on a state
    steps = (on[0].get("example") or {}).get("steps") or []
    assert len(steps) >= 2, on[0]
    assert steps[0]["request"]["method"] == "POST", steps[0]["request"]
    assert steps[-1]["request"]["query"].get("status"), steps[-1]["request"]

    off = runs["off"]
    assert _transitions(off) == 0
    assert not detections(off, mutant, baseline.keys()), off.findings
    assert off.exit_code == 0, off.output[-3000:]
