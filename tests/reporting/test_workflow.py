from __future__ import annotations

from typing import Any

import yaml

from tests.servers import ROOT


def _workflow() -> dict[Any, Any]:
    return dict(yaml.safe_load((ROOT / ".github" / "workflows" / "parity.yml").read_text()))


def test_workflow_runs_ci_and_uploads_the_report() -> None:
    workflow = _workflow()
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on:` key as True
    steps = workflow["jobs"]["ci"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "bash .ci/run" in runs
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert "reports/latest/parity.html" in upload["with"]["path"]
    assert "reports/latest/junit.xml" in upload["with"]["path"]


def test_workflow_gates_through_the_repository_action() -> None:
    steps = _workflow()["jobs"]["parity"]["steps"]
    gate = next(s for s in steps if s.get("uses") == "./")
    assert gate["with"]["profile"] == "ci"
    assert gate["with"]["dependency-groups"] == "port"


def test_action_runs_parity_then_always_summarises_and_uploads() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"profile", "config", "seed", "shard"} <= set(action["inputs"])
    assert action["inputs"]["shard"]["default"] == ""  # optional: passed only when set
    steps = action["runs"]["steps"]
    run = next(s for s in steps if s.get("id") == "run")
    assert 'if [ -n "$SHARD" ]; then cmd+=(--shard "$SHARD"); fi' in run["run"]
    assert 'if [ -n "$SEED" ]' in run["run"]
    summary = next(s for s in steps if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["if"] == "always()"
    assert "latest/summary.md" in summary["run"]
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert "latest/parity.html" in upload["with"]["path"]
    assert steps[-1]["run"].startswith("exit")  # fails with parity's code after the upload
    install = next(s for s in steps if "export --frozen" in s.get("run", ""))
    assert "uv==" in install["run"]


def test_workflow_shards_then_merges_into_one_report() -> None:
    jobs = _workflow()["jobs"]
    shard = jobs["shard"]
    assert shard["strategy"]["matrix"]["shard"] == [1, 2]
    assert shard["strategy"]["fail-fast"] is False
    run = next(s for s in shard["steps"] if "--shard" in s.get("run", ""))
    assert "--shard ${{ matrix.shard }}/2" in run["run"]
    assert "--seed" in run["run"]  # every shard plans the same partition
    upload = next(
        s for s in shard["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")
    )
    assert upload["if"] == "always()"
    assert upload["with"]["name"] == "parity-shard-${{ matrix.shard }}"

    merge = jobs["merge"]
    assert merge["needs"] == "shard"
    assert merge["if"] == "always()"  # a failed shard still gets a (failing) merged report
    download = next(
        s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact")
    )
    assert download["with"]["pattern"] == "parity-shard-*"
    step = next(s for s in merge["steps"] if "parity merge" in s.get("run", ""))
    assert download["with"]["path"] in step["run"]
    upload = next(
        s for s in merge["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact")
    )
    assert upload["if"] == "always()"
    assert "reports/latest/parity.html" in upload["with"]["path"]
    assert "reports/latest/junit.xml" in upload["with"]["path"]


def test_the_deep_profile_runs_nightly_and_on_release_tags() -> None:
    """The deep profile (too costly for each pull request) has a job of its own: scheduled,
    on release tags, through the repository's action, and the profile exists in the config."""
    import tomllib

    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "parity-deep.yml").read_text())
    triggers = workflow[True]
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # every day
    assert triggers["push"]["tags"] == ["v*"]
    steps = workflow["jobs"]["deep"]["steps"]
    gate = next(s for s in steps if s.get("uses") == "./")
    assert gate["with"]["profile"] == "deep"
    config = tomllib.loads((ROOT / "contracts" / "parity.toml").read_text())
    assert "deep" in config["profiles"]
