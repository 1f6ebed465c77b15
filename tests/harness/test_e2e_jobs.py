"""Background jobs (issue 27) on the fixture pair: ``POST /items/{id}/summary`` answers 202
and a ``Location``; a worker thread in each service finishes the job later. A run follows
every job to its end on both sides before it reads writes, so a drift in what the job
computes (``jobrows``) is caught in the final answer and the job's rows, a job that never
ends (``jobstuck``) is a timeout finding, and the agreeing pair stays quiet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.conftest import RunPair, make_config

pytestmark = pytest.mark.e2e

ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 25},
}
SUMMARY_OP = {
    "parameters": [ID],
    "post": {
        "operationId": "startSummary",
        "responses": {
            "202": {"description": "job queued"},
            "401": {"description": "unauthorized"},
            "404": {"description": "missing"},
        },
    },
}
JOB_OP = {
    "parameters": [ID],
    "get": {
        "operationId": "getJob",
        "responses": {"200": {"description": "job"}, "404": {"description": "missing"}},
    },
}
ONLY = ("--seed", "3", "--operation", "POST /items/{id}/summary")
QUICK = "\n[profiles.jobs]\npositive = 4\nnegative = 0\ninvariants = false\n"


@pytest.fixture
def jobs_pair(pair_dir: Path) -> Path:
    contract = pair_dir / "openapi.yaml"
    doc = yaml.safe_load(contract.read_text())
    doc["paths"]["/items/{id}/summary"] = SUMMARY_OP
    doc["paths"]["/jobs/{id}"] = JOB_OP
    contract.write_text(yaml.safe_dump(doc))
    return pair_dir


def _where(results: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (location, kind) of every finding, the ones grouped under another included."""
    out = set()
    for f in results["findings"]:
        out.add((f["location"], f["kind"]))
        out |= {
            (d["location"], d["kind"]) for d in f["example"]["diff"] + f["example"]["other_diffs"]
        }
        out |= {(loc["location"], loc["kind"]) for loc in f.get("locations") or []}
    return out


def test_an_agreeing_pair_with_background_jobs_is_quiet(run_pair: RunPair, jobs_pair: Path) -> None:
    code, results = run_pair(*ONLY, "--profile", "dev", config=make_config(jobs_pair))
    assert code == 0, results.get("findings")
    jobs = results["stats"]["jobs"]
    assert jobs["settled"] > 0, jobs
    assert jobs.get("timed_out", 0) == 0, jobs


def test_a_job_that_computes_from_the_wrong_rows_is_caught_after_it_settles(
    run_pair: RunPair, jobs_pair: Path
) -> None:
    code, results = run_pair(
        *ONLY, "--profile", "dev", config=make_config(jobs_pair, drift="jobrows")
    )
    assert code == 1
    where = _where(results)
    # the first answers (202, queued) agree: only the settled answer and the job's rows differ
    assert ("body:$.result.reviews", "value") in where, where
    # the rows the worker wrote after the first answer are read too, and attributed to it
    seen = {d["location"] for f in results["findings"] for d in f["example"]["diff"]}
    assert {"db:jobs.result", "db:events.payload"} <= seen, seen
    assert all(f["operation"] == "POST /items/{id}/summary" for f in results["findings"])


def test_a_job_that_never_ends_is_a_timeout_finding(run_pair: RunPair, jobs_pair: Path) -> None:
    extra = QUICK + '[[settle]]\noperation = "POST /items/{id}/summary"\ntimeout_s = 1.5\n'
    config = make_config(jobs_pair, drift="jobstuck", extra=extra)
    code, results = run_pair(*ONLY, "--profile", "jobs", config=config)
    assert code == 1
    assert ("settle", "missing") in _where(results)
    assert results["stats"]["jobs"]["timed_out"] > 0
