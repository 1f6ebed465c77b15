from __future__ import annotations

import yaml

from tests.servers import ROOT


def test_workflow_runs_ci_and_uploads_the_report() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "parity.yml").read_text())
    assert "pull_request" in workflow[True]  # YAML 1.1 reads the `on:` key as True
    steps = workflow["jobs"]["parity"]["steps"]
    runs = [s.get("run", "") for s in steps]
    assert "bash .ci/run" in runs
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert "reports/latest/parity.html" in upload["with"]["path"]
    assert "reports/latest/junit.xml" in upload["with"]["path"]
