"""A HAR recorded by a real browser: Debian's chromium, driven by Playwright
(``record_har_path``, ``executable_path``: no browser download), runs a page's scripts against
the legacy (log in, create a case, read it, change it, list). parity imports the HAR and
replays it on the managed pair with the created case's id mapped on each side: the agreeing
port stays quiet, a port drift on the case read is caught."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cli import main
from tests.mutants.runner import mutant_config
from tests.mutants.verify import seeded_database
from tests.servers import copy_db, legacy_built, running

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "browser"

# what the page's own script does, as a dashboard's would: fetch with the session's token
SCRIPT = """
async () => {
  const json = { "content-type": "application/json" };
  const login = await fetch("/api/auth/login", { method: "POST", headers: json,
    body: JSON.stringify({ email: "agent.retail@example.test", password: "parity-agent" }) });
  const { token } = await login.json();
  const auth = { authorization: "Bearer " + token };
  const made = await fetch("/api/cases", { method: "POST", headers: { ...json, ...auth },
    body: JSON.stringify({ title: "Browser case", channel: "web", category: "billing",
                           customerName: "Bea Browser" }) });
  const { id } = await made.json();
  await fetch(`/api/cases/${id}`, { headers: auth });
  await fetch(`/api/cases/${id}`, { method: "PATCH", headers: { ...json, ...auth },
    body: JSON.stringify({ status: "in_progress" }) });
  await fetch(`/api/cases/${id}`, { headers: auth });
  await fetch("/api/cases?status=in_progress&pageSize=20", { headers: auth });
  return id;
}
"""


@pytest.fixture(scope="module")
def har(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    work = tmp_path_factory.mktemp("har")
    path = work / "browser.har"
    db = copy_db(seeded_database(Path(tempfile.gettempdir()) / "parity-mutants"), work / "l.db")
    with running("legacy", db, work) as legacy:
        token = legacy.login("admin")
        for n in range(3):  # rows made before the recording: its ids run 3 ahead of a replay
            httpx.post(
                f"{legacy.url}/api/cases",
                json={
                    "title": f"before {n}",
                    "channel": "email",
                    "category": "billing",
                    "customerName": "Pre Recording",
                },
                headers={"authorization": f"Bearer {token}"},
            ).raise_for_status()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            try:
                context = browser.new_context(record_har_path=str(path))
                page = context.new_page()
                page.goto(f"{legacy.url}/api/health")
                created = int(page.evaluate(SCRIPT))
                context.close()  # writes the HAR
            finally:
                browser.close()
    return path, created


def _replay(config: Path, har: Path, reports: Path) -> tuple[int, dict[str, Any]]:
    argv = ["run", "--config", str(config), "--traffic", str(har), "-q"]
    code = main([*argv, "--report-dir", str(reports)])
    found = sorted(reports.glob("*/results.json"), key=lambda p: p.stat().st_mtime)
    return code, json.loads(found[-1].read_text())


def test_the_browser_har_imports(har: tuple[Path, int], tmp_path: Path) -> None:
    path, created = har
    entries = json.loads(path.read_text())["log"]["entries"]
    assert any(e["request"]["url"].endswith(f"/api/cases/{created}") for e in entries)
    out = tmp_path / "capture.jsonl"
    assert main(["traffic", "import", str(path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "parity-agent" not in text  # the password never reaches the capture
    assert "Bearer " not in text


@pytest.mark.parametrize("mutant", [None, "case-field-dropped"])
def test_the_browser_har_replays_with_its_ids_mapped(
    mutant: str | None, har: tuple[Path, int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", KEY)
    path, created = har
    snapshot = seeded_database(Path(tempfile.gettempdir()) / "parity-mutants")
    code, results = _replay(mutant_config(tmp_path, mutant, snapshot=snapshot), path, tmp_path)
    figures = results["traffic"]["figures"]
    assert figures["ids_mapped"] >= 2  # the created case, on each side
    assert figures["not_found_both"] == 0  # every read found the case its create made
    if mutant is None:
        assert results["findings"] == [], [f["summary"] for f in results["findings"]]
        assert code == 0, results["errors"]
    else:
        assert code == 1
        hits = [f for f in results["findings"] if f["operation"] == "GET /api/cases/{id}"]
        assert hits
        assert hits[0]["capture"]["request"]["path"] == f"/api/cases/{created}"
        assert hits[0]["capture"]["entry"].startswith("browser.har#")
