"""Real services for end-to-end tests: seed a database, start the legacy or the port, stop it."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "legacy"
MIGRATIONS = LEGACY / "drizzle"

USERS = {
    "admin": ("admin@example.test", "parity-admin"),
    "agent": ("agent.retail@example.test", "parity-agent"),
    "agent_smb": ("agent.smb@example.test", "parity-agent"),
    "viewer": ("viewer.retail@example.test", "parity-viewer"),
}


def legacy_built() -> bool:
    return (LEGACY / ".next" / "BUILD_ID").is_file() and (LEGACY / "node_modules").is_dir()


def apply_migrations(path: Path) -> None:
    """Build a database with the legacy's committed Drizzle migrations, in journal order."""
    journal = json.loads((MIGRATIONS / "meta" / "_journal.json").read_text())
    conn = sqlite3.connect(path)
    try:
        for entry in journal["entries"]:
            sql = (MIGRATIONS / f"{entry['tag']}.sql").read_text()
            for statement in sql.split("--> statement-breakpoint"):
                if statement.strip():
                    conn.executescript(statement)
        conn.commit()
    finally:
        conn.close()


def seed(path: Path, *args: str) -> None:
    """The legacy's own deterministic seed (migrations included)."""
    subprocess.run(
        ["npx", "tsx", "scripts/seed.ts", *args],
        cwd=LEGACY,
        env={**os.environ, "DATABASE_PATH": str(path)},
        check=True,
        capture_output=True,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def login(self, role: str) -> str:
        email, password = USERS[role]
        res = httpx.post(f"{self.url}/api/auth/login", json={"email": email, "password": password})
        res.raise_for_status()
        return str(res.json()["token"])


def _wait_healthy(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise RuntimeError(f"{service.name} exited: {service.log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{service.url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(
        f"{service.name} not healthy in {timeout}s: {service.log.read_text()[-2000:]}"
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the whole process group (npm -> next-server, uvicorn workers)."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # children may outlive the leader
        os.killpg(process.pid, signal.SIGKILL)


@contextmanager
def running(
    name: str,
    database: Path,
    log_dir: Path,
    env: dict[str, str] | None = None,
    *,
    realtime: bool = False,
) -> Iterator[Service]:
    """``env`` adds to the service's environment (``DATABASE_URL`` for the port on PG);
    ``realtime``: the legacy as ``npm start`` runs it (its custom server, which also serves
    the realtime WebSocket), not ``next start`` alone."""
    port = free_port()
    env = {**os.environ, "DATABASE_PATH": str(database), "PORT": str(port), **(env or {})}
    if name == "legacy":
        command = ["npx", "next", "start", "-H", "127.0.0.1", "-p", str(port)]
        if realtime:
            command = ["npm", "start", "--silent"]
        cwd = LEGACY
    else:
        command = [sys.executable, "-m", "backend"]
        cwd = ROOT
    log = log_dir / f"{name}-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    service = Service(name, f"http://127.0.0.1:{port}", process, log)
    try:
        _wait_healthy(service)
        yield service
    finally:
        stop(process)


def copy_db(source: Path, target: Path) -> Path:
    shutil.copyfile(source, target)
    return target


def marked_processes(mark: str) -> list[int]:
    """Every live (not zombie) process whose environment carries ``PARITY_TEST_MARK=mark``:
    what a test started, grandchildren included, wherever they moved to."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            env = Path(f"/proc/{name}/environ").read_bytes()
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        marked = f"PARITY_TEST_MARK={mark}".encode() in env.split(b"\0")
        if marked and stat.rsplit(b")", 1)[1].split()[0] != b"Z":
            found.append(int(name))
    return found
