"""``pytest --parity``: a parity run as test items, for teams that gate on pytest.

The plugin runs ``parity run`` as a subprocess and reads its ``results.json``, so it depends
only on the command line and the results document, never on the engine's internals. Each
contract operation and each invariant becomes one item: an operation fails when it has an
unaccepted finding, an invariant when it broke, and every item fails when the run's verdict is
``error`` (nothing was proven). ``--parity-results PATH`` reads an existing results.json
instead of running (a second job, or a test of this plugin).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

__all__ = ["ParityFailure"]

_KEY = pytest.StashKey[Mapping[str, Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("parity", "contract equivalence (parity)")
    group.addoption("--parity", action="store_true", help="run parity; one test per operation")
    group.addoption("--parity-profile", default=None, help="profile from parity.toml (ci, dev)")
    group.addoption(
        "--parity-config", default=None, help="parity.toml (default contracts/parity.toml)"
    )
    group.addoption("--parity-seed", type=int, default=None, help="repeat a run exactly")
    group.addoption(
        "--parity-report-dir", default=None, help="where the run writes its reports (reports)"
    )
    group.addoption(
        "--parity-results",
        default=None,
        metavar="PATH",
        help="read this results.json instead of running parity",
    )


class ParityFailure(Exception):
    """An operation or invariant the pair disagrees on (or a run that proved nothing)."""


def _enabled(config: pytest.Config) -> bool:
    return bool(config.getoption("parity") or config.getoption("parity_results"))


def _run(config: pytest.Config) -> Mapping[str, Any]:
    given = config.getoption("parity_results")
    if given:
        return dict(json.loads(Path(given).read_text(encoding="utf-8")))
    # paths given on the command line are the caller's, relative to where pytest was started
    # (as pytest's own are), not to the rootdir pytest found above it
    here = config.invocation_params.dir
    own_dir = config.getoption("parity_report_dir")
    report_dir = here / own_dir if own_dir else config.rootpath / "reports"
    command = [sys.executable, "-m", "harness", "run", "--report-dir", str(report_dir), "-q"]
    if config.getoption("parity_profile"):
        command += ["--profile", config.getoption("parity_profile")]
    if config.getoption("parity_config"):
        command += ["--config", str(here / config.getoption("parity_config"))]
    if config.getoption("parity_seed") is not None:
        command += ["--seed", str(config.getoption("parity_seed"))]
    results = report_dir / "latest" / "results.json"
    started = results.stat().st_mtime if results.is_file() else None
    done = subprocess.run(command, cwd=config.rootpath, env=os.environ.copy(), check=False)
    fresh = results.is_file() and results.stat().st_mtime != started
    if not fresh:
        return {
            "verdict": "error",
            "errors": [
                {
                    "message": f"`{' '.join(command)}` exited {done.returncode} "
                    "and wrote no results.json"
                }
            ],
        }
    return dict(json.loads(results.read_text(encoding="utf-8")))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "parity: an item produced by the parity run")


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    if not _enabled(config):
        return
    results = _run(config)
    config.stash[_KEY] = results
    collector = ParityCollector.from_parent(session, name="parity", results=results)
    items.extend(collector.collect())


class ParityCollector(pytest.Collector):
    def __init__(self, *, results: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.results = results

    def collect(self) -> list[pytest.Item]:
        results = self.results
        findings: dict[str, list[Mapping[str, Any]]] = {}
        for finding in results.get("findings") or []:
            findings.setdefault(str(finding.get("operation")), []).append(finding)
        items: list[pytest.Item] = []
        for op in results.get("operations") or []:
            op_id = str(op["id"])
            items.append(
                ParityItem.from_parent(
                    self,
                    name=f"operation[{op_id}]",
                    kind="operation",
                    subject=op,
                    findings=findings.get(op_id, []),
                    results=results,
                )
            )
        for inv in results.get("invariants") or []:
            items.append(
                ParityItem.from_parent(
                    self,
                    name=f"invariant[{inv.get('name')}]",
                    kind="invariant",
                    subject=inv,
                    findings=[],
                    results=results,
                )
            )
        if not items:  # nothing to attach a verdict to: one item for the run itself
            items.append(
                ParityItem.from_parent(
                    self, name="run", kind="run", subject={}, findings=[], results=results
                )
            )
        return items


class ParityItem(pytest.Item):
    def __init__(
        self,
        *,
        kind: str,
        subject: Mapping[str, Any],
        findings: list[Mapping[str, Any]],
        results: Mapping[str, Any],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        self.subject = subject
        self.findings = findings
        self.results = results
        self.add_marker("parity")

    def runtest(self) -> None:
        if self.results.get("verdict") == "error":
            problems = self.results.get("errors") or [{"message": "no verdict"}]
            raise ParityFailure(
                "the parity run proved nothing (verdict error): "
                + "; ".join(str(p.get("message")) for p in problems)
            )
        if self.kind == "operation":
            unaccepted = [f for f in self.findings if not f.get("accepted")]
            if unaccepted:
                raise ParityFailure(
                    f"{len(unaccepted)} finding(s):\n"
                    + "\n".join(_finding_line(f) for f in unaccepted)
                )
        elif self.kind == "invariant":
            if self.subject.get("skipped"):
                pytest.skip(str(self.subject.get("message") or "not checked"))
            if not self.subject.get("passed", True):
                raise ParityFailure(str(self.subject.get("message") or "broken"))

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str:
        if isinstance(excinfo.value, ParityFailure):
            return str(excinfo.value)
        return str(super().repr_failure(excinfo, style=style))

    def reportinfo(self) -> tuple[Path | str, int | None, str]:
        return self.path, None, f"parity {self.name}"


def _finding_line(finding: Mapping[str, Any]) -> str:
    line = f"  {finding.get('kind')} at {finding.get('location')} ({finding.get('count')} cases)"
    summary = finding.get("summary")
    return f"{line}: {summary}" if summary else line
