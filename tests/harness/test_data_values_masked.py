"""Values from the data in URL mode (issue 26): with ``[external] databases``, parity learns
values from the legacy's own SQLite file (read only) and a case built from a stored value
reaches a drift only such a value can reach; the value is masked in results.json, the HTML
report, JUnit and the replay script, and shown once ``[external] show_data_values`` allows.

The notes pair is started here on its own SQLite files (never a user's data); its candidate
runs the ``unique`` drift: a create whose title is a stored note's title answers 409.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.onboard.init import init_config
from tests.fixtures.notes_pair.running import NOTES, notes_pair

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLES = {"PARITY_ROLE_ADMIN": "admin:admin-pw", "PARITY_ROLE_READER": "reader:reader-pw"}
WHERE = ("POST /notes", "status:201 vs 409")


def _run(
    config: Path, legacy: str, candidate: str, reports: Path
) -> tuple[int, dict[str, Any], str]:
    """(exit code, results, what the console printed)."""
    proc = subprocess.run(
        [
            sys.executable, "-m", "harness", "run", "--config", str(config),
            "--legacy-url", legacy, "--candidate-url", candidate, "--seed", "1",
            "--operation", "POST /notes", "--report-dir", str(reports),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    results = json.loads((reports / "latest" / "results.json").read_text())
    assert results["errors"] == [], (results["errors"], proc.stderr[-2000:])
    return proc.returncode, results, proc.stdout + proc.stderr


def _written(reports: Path) -> dict[str, str]:
    """Every file the run wrote under its report folder, by name: results, HTML, JUnit,
    replay scripts."""
    latest = (reports / "latest").resolve()
    return {
        str(p.relative_to(latest)): p.read_text(errors="replace")
        for p in latest.rglob("*")
        if p.is_file() and p.suffix in (".json", ".html", ".xml", ".sh", ".md", ".txt")
    }


def _titles(path: Path) -> list[str]:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [r[0] for r in con.execute("SELECT title FROM notes ORDER BY id")]
    finally:
        con.close()


def _finding(results: dict[str, Any]) -> dict[str, Any]:
    found = {(f["operation"], f["location"]): f for f in results["findings"]}
    assert WHERE in found, sorted(found)
    return found[WHERE]


def test_a_stored_value_reaches_a_drift_masked_unless_the_config_allows_it(
    tmp_path: Path,
) -> None:
    dbs = {k: tmp_path / f"{k}.db" for k in ("legacy", "candidate")}
    with notes_pair(tmp_path, "unique") as (legacy, candidate):
        before = {k: _titles(p) for k, p in dbs.items()}
        assert before["legacy"] == list(NOTES)
        result = init_config(
            legacy,
            candidate,
            out=tmp_path / "parity.toml",
            env=ROLES,
            legacy_db=str(dbs["legacy"]),
            candidate_db=str(dbs["candidate"]),
        )
        assert "[external]\n" in result.text
        masked_code, masked, console = _run(
            result.config_path, legacy, candidate, tmp_path / "masked"
        )
        files = _written(tmp_path / "masked")
        shown_config = tmp_path / "shown.toml"
        shown_config.write_text(
            result.text.replace("[external]\n", "[external]\nshow_data_values = true\n")
        )
        shown_code, shown, shown_console = _run(shown_config, legacy, candidate, tmp_path / "shown")
        shown_files = _written(tmp_path / "shown")
        off_config = tmp_path / "off.toml"  # values from the data off: the drift is missed
        off_config.write_text(
            result.text.replace("[profiles.dev]\n", "[profiles.dev]\ndata_values = 0\n")
        )
        _, off, _ = _run(off_config, legacy, candidate, tmp_path / "off")
        # the user's files: read, every write restored
        assert {k: _titles(p) for k, p in dbs.items()} == before

    # masked: the case that reached the drift took a stored title, shown as a placeholder
    assert masked_code == 1, masked["verdict"]
    assert any("learned from the legacy's database" in n for n in masked["stats"]["notes"])
    step = _finding(masked)["example"]["steps"][0]
    assert step["request"]["body"]["title"] == "<data:notes.title>", step["request"]
    assert "body title: <data:notes.title>" in step["masked"]
    assert "<data:notes.title>" in step["replay"]["legacy"]
    replay = files[_finding(masked)["replay"]]
    assert "<data:notes.title>" in replay
    assert "show_data_values = true" in replay
    assert "show_data_values = true" in files["parity.html"]
    assert {"results.json", "parity.html", "junit.xml"} <= set(files)
    assert "masked: body title: <data:notes.title>" in console
    for name, text in {**files, "console": console}.items():
        for title in NOTES:
            assert title not in text, (title, name)

    # only a case that took a stored title reaches it
    assert WHERE not in {(f["operation"], f["location"]) for f in off["findings"]}

    # allowed: the same finding, its stored title shown everywhere, nothing masked
    assert shown_code == 1, shown["verdict"]
    step = _finding(shown)["example"]["steps"][0]
    title = step["request"]["body"]["title"]
    assert title in NOTES, step["request"]
    assert step["masked"] == []
    assert title in step["replay"]["legacy"]
    assert title in shown_files[_finding(shown)["replay"]]
    assert title in shown_files["parity.html"]
    assert title in shown_console
