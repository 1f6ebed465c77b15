"""The port as it runs in production: `python -m backend` under uvicorn on a real file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.servers import running

pytestmark = [pytest.mark.e2e, pytest.mark.timing]


def test_port_serves_a_real_file(seeded_template: Path, tmp_path: Path) -> None:
    db = tmp_path / "real.db"
    db.write_bytes(seeded_template.read_bytes())
    with running("port", db, tmp_path) as port:
        token = port.login("agent")
        h = {"Authorization": f"Bearer {token}"}
        made = httpx.post(
            port.url + "/api/cases",
            headers=h,
            json={"title": "Real", "channel": "email", "category": "c", "customerName": "R"},
        )
        assert made.status_code == 201
        assert httpx.get(port.url + "/api/cases/", headers=h).status_code == 308
        assert httpx.request("PUT", port.url + "/api/alerts", headers=h).status_code == 405
        process = port.process
    assert process.poll() is not None, "the server is stopped after the test"
    with sqlite3.connect(db) as conn:
        kinds = [r[0] for r in conn.execute("SELECT kind FROM events ORDER BY id")]
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert kinds[-1] == "case.created"
    assert mode == "wal"
