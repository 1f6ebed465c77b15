"""``reports/<run-id>/results.json`` and the ``reports/latest/`` copy (a copy, not a link)."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

__all__ = ["load_results", "render_optional", "update_latest", "write_results"]


def write_results(results: dict[str, Any], run_dir: Path) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(
        json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
    )
    tmp.replace(path)
    return path


def update_latest(run_dir: Path) -> Path:
    """Replace ``<reports>/latest`` with a copy of this run's folder, atomically enough."""
    latest = run_dir.parent / "latest"
    staging = Path(tempfile.mkdtemp(prefix=".latest-", dir=run_dir.parent))
    try:
        target = staging / "latest"
        shutil.copytree(run_dir, target)
        old = run_dir.parent / f".latest-old-{run_dir.name}"
        if latest.is_symlink() or latest.is_file():
            latest.unlink()
        elif latest.exists():
            latest.rename(old)
        target.rename(latest)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return latest


def load_results(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read results: {exc.strerror}", kind="input") from exc
    except ValueError as exc:
        raise HarnessError(f"{path}: not valid JSON: {exc}", kind="input") from exc
    if not isinstance(data, dict) or data.get("schema_version") != 1:
        raise HarnessError(f"{path}: not a schema_version 1 results file", kind="input")
    return data


def render_optional(results: dict[str, Any], out_dir: Path) -> list[str]:
    """HTML and JUnit reporters, if installed (written separately); returns what was written."""
    written: list[str] = []
    for module, func, name in (
        ("harness.reporting.html", "write_html", "parity.html"),
        ("harness.reporting.junit", "write_junit", "junit.xml"),
        ("harness.reporting.summary", "write_summary", "summary.md"),
    ):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        writer = getattr(mod, func, None)
        if writer is None:
            continue
        try:
            writer(results, out_dir / name)
        except Exception as exc:  # a broken reporter must not hide the verdict
            print(f"parity: {module}.{func} failed: {exc!r}", file=sys.stderr)
            continue
        written.append(name)
    return written
