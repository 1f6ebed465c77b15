"""The distribution: a wheel of the tool alone that runs without the port's dependencies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tests.servers import ROOT

# builds and installs the wheel
pytestmark = pytest.mark.integration

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PORT_ONLY = ("fastapi", "sqlalchemy", "uvicorn", "bcrypt", "python-multipart")


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_tool_does_not_depend_on_the_port() -> None:
    runtime = _names(PYPROJECT["project"]["dependencies"])
    assert not runtime & set(PORT_ONLY)
    assert set(PORT_ONLY) <= _names(
        [g for g in PYPROJECT["dependency-groups"]["port"] if isinstance(g, str)]
    )
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert "<" in requirement, f"{requirement}: no upper bound on the major version"


def test_ci_bootstraps_the_locked_uv() -> None:
    pinned = next(r for r in PYPROJECT["dependency-groups"]["dev"] if str(r).startswith("uv=="))
    version = str(pinned).removeprefix("uv==")
    assert f"UV_VERSION={version}" in (ROOT / ".ci" / "run").read_text()
    assert f'"uv=={version}"' in (ROOT / "action.yml").read_text()
    lock = (ROOT / "uv.lock").read_text()
    assert f'name = "uv"\nversion = "{version}"' in lock


@pytest.mark.slow
def test_the_wheel_runs_without_the_port(tmp_path: Path, results_doc: Path) -> None:
    """Build the wheel, install it alone in a clean venv: ``parity --help`` and
    ``parity report`` work, and fastapi, sqlalchemy and uvicorn are not there."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "uv", "build", "--wheel", "--out-dir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("parity-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/py.typed" in names
    assert not [n for n in names if n.startswith(("backend/", "tests/"))]
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "uv",
            "pip",
            "install",
            "--python",
            str(python),
            "--quiet",
            str(wheel),
        ],
        check=True,
    )
    bin_dir = env_dir / "bin"
    probe = "import importlib.util as u; print([m for m in {mods!r} if u.find_spec(m)])".format(
        mods=["fastapi", "sqlalchemy", "uvicorn", "bcrypt", "backend"]
    )
    found = subprocess.run([python, "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert found.stdout.strip() == "[]"
    helped = subprocess.run([bin_dir / "parity", "--help"], cwd=tmp_path, capture_output=True)
    assert helped.returncode == 0
    assert b"report" in helped.stdout
    module = subprocess.run([python, "-m", "harness", "--help"], cwd=tmp_path, capture_output=True)
    assert module.returncode == 0
    out = tmp_path / "out"
    report = subprocess.run(
        [bin_dir / "parity", "report", str(results_doc), "--out", str(out)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert report.returncode in (0, 1), report.stderr
    assert (out / "parity.html").is_file()
    assert (out / "junit.xml").is_file()
    typed = subprocess.run(
        [python, "-c", "import harness; print(harness.invariant.__module__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert typed.stdout.strip() == "harness.db.invariants"


@pytest.fixture
def results_doc(tmp_path: Path) -> Path:
    from tests.reporting.conftest import _base

    path = tmp_path / "results.json"
    path.write_text(json.dumps(_base()))
    return path
