"""The replay-only mutants: data- and sequence-dependent port drift (a search over rows the
traffic created, a list only a second upload or share orders, analytics over repeated
searches) caught by replaying simulated traffic, and the unmutated port quiet on the same
replay. Which of them plain generation also catches: ``python -m tests.traffic.mutants_replay``
(measured in tests/mutants/README.md)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.mutants.catalogue import REPLAY_ONLY, get
from tests.mutants.runner import Outcome, detections, mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built
from tests.traffic.mutants_replay import KEY, replay

pytestmark = [
    pytest.mark.mutants,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

NAMES = sorted(REPLAY_ONLY)


@pytest.fixture(scope="module")
def env() -> Iterator[dict[str, Any]]:
    from tests.traffic.simulate import capture

    work = Path(tempfile.mkdtemp(prefix="parity-replay-mutants-test-"))
    traffic = work / "sim.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARITY_TRAFFIC_KEY", KEY)
        assert capture(traffic, seed_n=7, requests=400) == 0
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    yield {"work": work, "traffic": traffic, "snapshot": snapshot}
    if not os.environ.get("PARITY_MUTANT_KEEP"):
        shutil.rmtree(work, ignore_errors=True)


def _run(env: dict[str, Any], name: str | None) -> Outcome:
    config = mutant_config(env["work"], name, snapshot=env["snapshot"])
    return replay(config, env["traffic"], env["work"] / f"reports-{name or 'unmutated'}")


@pytest.fixture(scope="module")
def outcomes(env: dict[str, Any]) -> dict[str | None, Outcome]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        names: list[str | None] = [None, *NAMES]
        return dict(zip(names, pool.map(lambda n: _run(env, n), names), strict=True))


@pytest.mark.timeout(3600)
def test_the_unmutated_port_is_quiet_on_the_replay(outcomes: dict[str | None, Outcome]) -> None:
    base = outcomes[None]
    shown = [f"{f['operation']} {f['location']} {f['kind']}" for f in base.findings]
    assert not shown, shown
    assert base.exit_code == 0, base.output[-3000:]


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("name", NAMES)
def test_replay_catches(name: str, outcomes: dict[str | None, Outcome]) -> None:
    outcome = outcomes[name]
    assert outcome.exit_code != 2, outcome.output[-3000:]
    found = detections(outcome, get(name), outcomes[None].keys())
    assert found, (name, [f["operation"] for f in outcome.findings])
    assert all(f["phase"] == "traffic" for f in found)
    assert outcome.exit_code == 1
