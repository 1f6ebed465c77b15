"""The durability probe on the shipped pair, through ``parity run`` (issue 27): with a
``[[settle]]`` rule's ``restart``, parity kills a service (SIGKILL) under a background job,
starts it again on its port and database, settles the job on both sides and compares them.

Three runs aimed at ``POST /api/cases/{id}/summary`` (``ci`` cut to that operation's
cases and jobs, one seed): the unmutated port
with both services killed right after the 202 (``restart_when = "accepted"``: a restart
happens for certain) agrees and goes on after the restart; the mutant
``job-claim-lost-on-kill`` (a worker that never takes back a claim its dead process held)
under the shipped rule (``running``: killed once a poll shows the job claimed) is reported as
a job that never ends; the same mutant with ``restart_jobs = "off"`` is missed."""

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
from tests.mutants.runner import CONFIG, Outcome, dump_toml, mutant_config, run_parity
from tests.mutants.verify import seeded_database
from tests.servers import legacy_built

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

NAME = "job-claim-lost-on-kill"
OPERATION = "POST /api/cases/{id}/summary"
SEED = 7
ON = "probe"
OFF = "probe-no-restarts"


def _with_rule(config: Path, **settings: Any) -> Path:
    """The run's config with its summary ``[[settle]]`` rule changed."""
    data = tomllib.loads(config.read_text())
    rule = next(r for r in data["settle"] if r["operation"] == OPERATION)
    rule.update(settings)
    config.write_text(dump_toml(data) + "\n")
    return config


@pytest.fixture(scope="module")
def runs() -> Iterator[dict[str, Outcome]]:
    work = Path(tempfile.mkdtemp(prefix="parity-restart-probe-"))
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    ci = tomllib.loads(CONFIG.read_text())["profiles"]["ci"]
    # the summary's cases and their jobs only: the other phases have nothing to do here
    small = {
        **ci,
        "positive": 10,
        "negative": 0,
        "stateful_sequences": 0,
        "transition_sequences": 0,
        "growth_rows": 0,
        "realtime": False,
        "invariants": False,
    }
    extra = {ON: small, OFF: {**small, "restart_jobs": "off"}}

    def one(label: str, name: str | None, profile: str) -> tuple[str, Outcome]:
        config = mutant_config(work / label, name, snapshot=snapshot, extra_profiles=extra)
        if name is None:
            _with_rule(config, restart="both", restart_when="accepted")
        return label, run_parity(
            config,
            [OPERATION],
            profile=profile,
            seed=SEED,
            report_dir=work / "reports" / label,
            timeout=600,
        )

    plan = [("unmutated", None, ON), ("on", NAME, ON), ("off", NAME, OFF)]
    try:
        for label, _name, _profile in plan:
            (work / label).mkdir(parents=True)
        # independent runs, mostly waiting (jobs, a restart, a settle timeout): side by side
        with ThreadPoolExecutor(max_workers=len(plan)) as pool:
            out = dict(pool.map(lambda args: one(*args), plan))
        for label, outcome in out.items():
            assert outcome.exit_code != 2, (label, outcome.output[-3000:])
        yield out
    finally:
        if os.environ.get("PARITY_MUTANT_KEEP"):
            print(f"runs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _jobs(outcome: Outcome) -> dict[str, int]:
    return dict(((outcome.results or {}).get("stats") or {}).get("jobs") or {})


def _where(finding: dict[str, Any]) -> set[tuple[str, str]]:
    out = {(finding["location"], finding["kind"])}
    example = finding.get("example") or {}
    out |= {(d["location"], d["kind"]) for d in example.get("diff", [])}
    out |= {(d["location"], d["kind"]) for d in example.get("other_diffs", [])}
    out |= {(loc["location"], loc["kind"]) for loc in finding.get("locations") or []}
    return out


@pytest.mark.timeout(1800)
def test_a_job_lost_in_a_crash_is_caught_only_with_the_restart_probe(
    runs: dict[str, Outcome],
) -> None:
    quiet = runs["unmutated"]
    assert not quiet.findings, quiet.findings
    assert quiet.exit_code == 0, quiet.output[-3000:]
    # both services were killed and came back: the run went on and every job settled
    assert _jobs(quiet)["restarted"] == 2, _jobs(quiet)
    assert _jobs(quiet).get("timed_out", 0) == 0

    on = runs["on"]
    assert on.exit_code == 1, on.output[-3000:]
    assert get(NAME).operations == (OPERATION,)
    lost = [f for f in on.findings if f["operation"] == OPERATION]
    assert any(("settle", "missing") in _where(f) for f in lost), on.findings
    assert _jobs(on)["restarted"] >= 1
    assert _jobs(on)["timed_out"] >= 1

    off = runs["off"]
    assert off.exit_code == 0, off.findings
    assert _jobs(off).get("restarted", 0) == 0
    assert _jobs(off).get("timed_out", 0) == 0
