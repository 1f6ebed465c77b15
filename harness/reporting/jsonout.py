"""``reports/<run-id>/results.json`` and the ``reports/latest/`` copy (a copy, not a link)."""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import jinja2

from harness.reporting.results import Results, load_results

__all__ = ["load_results", "render_all", "update_latest", "write_results"]


def write_results(results: Results, run_dir: Path) -> Path:
    return results.write(run_dir / "results.json")


def update_latest(run_dir: Path) -> Path:
    """Replace ``<reports>/latest`` with a copy of this run's folder, atomically enough."""
    from harness.proc.reaper import REAPER

    latest = run_dir.parent / "latest"
    staging = Path(tempfile.mkdtemp(prefix=".latest-", dir=run_dir.parent))
    REAPER.path(staging)  # killed while copying: the reaper removes the copy
    try:
        target = staging / "latest"
        shutil.copytree(run_dir, target)
        if latest.is_symlink() or latest.is_file():
            latest.unlink()
        elif latest.exists():
            latest.rename(staging / "old")  # removed with the staging folder
        target.rename(latest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        REAPER.forget(path=staging)
    return latest


def render_all(results: Results, out_dir: Path) -> list[str]:
    """HTML, JUnit and summary.md; returns what was written. A reporter that fails is
    reported on stderr and the others still run: a broken reporter must not hide the
    verdict, and the exit code says the run's verdict, not the reporter's."""
    from harness.reporting.html import write_html
    from harness.reporting.junit import write_junit
    from harness.reporting.replay import write_replay
    from harness.reporting.summary import write_summary

    written: list[str] = []
    for writer, name in (
        (write_html, "parity.html"),
        (write_junit, "junit.xml"),
        (write_summary, "summary.md"),
    ):
        try:
            writer(results, out_dir / name)
        except (OSError, ValueError, TypeError, KeyError, jinja2.TemplateError) as exc:
            print(f"parity: writing {name} failed: {exc!r}", file=sys.stderr)
            continue
        written.append(name)
    try:
        if write_replay(results, out_dir):
            written.append("replay/")
    except OSError as exc:
        print(f"parity: writing replay scripts failed: {exc!r}", file=sys.stderr)
    return written
