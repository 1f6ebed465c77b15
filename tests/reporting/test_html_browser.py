"""The HTML report as a person sees it: headless Chromium, no console error, no network."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from harness.reporting.html import render_html, write_html
from tests.servers import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--remote-debugging-port=0",
    "--window-size=1200,1600",
]


class Page:
    """The few Chrome DevTools Protocol calls this test needs."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=30))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return dict(message.get("result") or {})
            self.events.append(message)

    def drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=0.2)))
            except TimeoutError:
                continue

    def text(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)[
            "result"
        ].get("value")


@pytest.fixture
def browser(tmp_path: Path) -> Any:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > deadline:
                pytest.fail("chromium did not start")
            time.sleep(0.1)
        yield int(port_file.read_text().split()[0])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@contextlib.contextmanager
def open_page(port: int, url: str) -> Iterator[Page]:
    targets = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
    page_target = next(t for t in targets if t.get("type") == "page")
    with connect(page_target["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10) as ws:
        page = Page(ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=url)
        page.drain(2.0)
        yield page


@pytest.mark.e2e
def test_report_reads_like_a_report(
    browser: int, drifting: dict[str, Any], agreeing: dict[str, Any], tmp_path: Path
) -> None:
    path = write_html(drifting, tmp_path / "parity.html", previous=agreeing)
    url = path.resolve().as_uri()
    with open_page(browser, url) as page:
        errors = [
            e
            for e in page.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (
                e.get("method") == "Runtime.consoleAPICalled" and e["params"].get("type") == "error"
            )
            or (
                e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") == "error"
            )
        ]
        assert errors == []
        requested = {
            e["params"]["request"]["url"]
            for e in page.events
            if e.get("method") == "Network.requestWillBeSent"
        }
        assert requested == {url}, requested
        assert "Verdict: DRIFT" in page.text("document.querySelector('#verdict').innerText")
        rows = page.text(
            "[...document.querySelectorAll('#operations tbody tr')].map(r => r.cells[0].innerText)"
        )
        assert rows == [op["id"] for op in drifting["operations"]]
        finding = "document.getElementById('f-format01')"
        assert page.text(f"{finding}.querySelectorAll('.sides pre').length") == 2
        highlighted = page.text(
            f"[...{finding}.querySelectorAll('pre.body .hl')].map(x => x.innerText.trim())"
        )
        assert any("+00:00" in line for line in highlighted)
        assert any(".000Z" in line for line in highlighted)
        assert "2 new" in page.text("document.getElementById('changes').innerText")
        assert "expired" in page.text("document.getElementById('accepted').innerText")
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        out = ROOT / "reports" / "report-screenshot.png"
        out.parent.mkdir(exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        assert out.stat().st_size > 10_000


def test_report_escapes_what_the_services_said(drifting: dict[str, Any]) -> None:
    drifting["findings"][0]["example"]["steps"][0]["candidate"]["body"] = {
        "x": "<script>alert(1)</script>"
    }
    html = render_html(drifting)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_report_needs_no_network(agreeing: dict[str, Any]) -> None:
    html = render_html(agreeing)
    assert "http://" not in html.replace("http://127.0.0.1", "")
    assert "https://" not in html
    assert "Verdict: AGREE" in html


def test_report_shows_uploaded_files_as_text(drifting: dict[str, Any]) -> None:
    """A CSV upload's example reads as the file, escaped, not as one JSON string."""
    csv_text = 'title,channel\n<b>x</b>,"a, b"\nTwo,chat\n'
    request = drifting["findings"][1]["example"]["steps"][0]["request"]
    request["body"] = {
        "multipart": [
            {
                "name": "file",
                "filename": "cases.csv",
                "size": len(csv_text),
                "contentType": "text/csv",
                "text": csv_text,
            }
        ]
    }
    html = render_html(drifting)
    assert "cases.csv" in html
    assert (
        '<pre class="file">title,channel\n&lt;b&gt;x&lt;/b&gt;,&#34;a, b&#34;\nTwo,chat\n</pre>'
        in html
    )
    assert "\\n" not in html.split('<pre class="file">', 1)[1].split("</pre>", 1)[0]
