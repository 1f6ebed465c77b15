"""A job queued before a service is killed (SIGKILL, no shutdown) completes after it restarts:
jobs are rows claimed by a worker, not work held in a process. Each side starts first with
its worker held back (``JOBS_WORKER=0``), so the job is certainly still queued at the kill;
then restarts as production runs it (the port: ``python -m backend``, the legacy: ``npm
start``, its custom server with the worker loop) and must finish the job with the summary of
the case's own rows."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import LEGACY, ROOT, USERS, free_port, legacy_built, seed

pytestmark = pytest.mark.e2e


@contextmanager
def _started(
    side: str, db: Path, log: Path, worker: bool
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "DATABASE_PATH": str(db), "PORT": str(port), "NODE_ENV": "production"}
    if not worker:
        env["JOBS_WORKER"] = "0"
    command, cwd = (
        (["npm", "start", "--silent"], LEGACY)
        if side == "legacy"
        else ([sys.executable, "-m", "backend"], ROOT)
    )
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.2)
        yield url, proc
    finally:
        _kill(proc, signal.SIGTERM)


def _kill(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        return
    proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # children outliving the leader
        os.killpg(proc.pid, signal.SIGKILL)


def _token(url: str) -> str:
    email, password = USERS["admin"]
    res = httpx.post(f"{url}/api/auth/login", json={"email": email, "password": password})
    res.raise_for_status()
    return str(res.json()["token"])


def _expected(db: Path, case_id: int) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        alerts, latest = conn.execute(
            "SELECT count(*), max(created_at) FROM alerts WHERE case_id = ?", (case_id,)
        ).fetchone()
        messages = conn.execute(
            "SELECT count(*) FROM chat_messages WHERE case_id = ?", (case_id,)
        ).fetchone()[0]
    return {"alerts": alerts, "latestAlertAt": latest, "messages": messages}


@pytest.mark.parametrize("side", ["port", "legacy"])
def test_a_job_queued_before_a_kill_completes_after_restart(side: str, tmp_path: Path) -> None:
    if side == "legacy" and not legacy_built():
        pytest.skip("legacy not built (npm run build)")
    db = tmp_path / "pair.db"
    seed(db)
    with sqlite3.connect(db) as conn:  # the case with the most alerts: its counts are not zero
        case_id = conn.execute(
            "SELECT case_id FROM alerts WHERE case_id IS NOT NULL "
            "GROUP BY case_id ORDER BY count(*) DESC, case_id LIMIT 1"
        ).fetchone()[0]
    log = tmp_path / f"{side}.log"
    with _started(side, db, log, worker=False) as (url, proc):
        answer = httpx.post(
            f"{url}/api/cases/{case_id}/summary", headers={"Authorization": f"Bearer {_token(url)}"}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "queued"
        location = answer.headers["location"]
        _kill(proc, signal.SIGKILL)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM jobs").fetchall() == [("queued",)]
    with _started(side, db, log, worker=True) as (url, _):
        headers = {"Authorization": f"Bearer {_token(url)}"}
        deadline = time.monotonic() + 60
        while True:
            job = httpx.get(f"{url}{location}", headers=headers).json()
            if job["status"] in ("done", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert job["status"] == "done", job
    expected = _expected(db, case_id)
    result = job["result"]
    assert result["caseId"] == case_id
    assert result["alerts"]["total"] == expected["alerts"] > 0
    assert result["alerts"]["latestAt"] == expected["latestAlertAt"]
    assert result["chat"]["messages"] == expected["messages"]
    with sqlite3.connect(db) as conn:  # its event is on the realtime channel's table
        kinds = [k for (k,) in conn.execute("SELECT kind FROM events WHERE subject_type = 'job'")]
    assert kinds == ["job.queued", "job.done"]
