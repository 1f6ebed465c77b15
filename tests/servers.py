"""Real services for end-to-end tests: seed a database, start the legacy or the port, stop it."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
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
    return (
        (LEGACY / ".next" / "BUILD_ID").is_file()
        and (LEGACY / "dist" / "server.cjs").is_file()
        and (LEGACY / "node_modules").is_dir()
    )


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


def legacy_fingerprint() -> str:
    """What a seeded file depends on: the migrations, the seed script and the lib it uses.

    Seeded files are cached in the shared temp folder: worktrees (or commits) with another
    schema must not reuse each other's file.
    """
    digest = hashlib.sha256()
    for folder in ("drizzle", "scripts", "lib"):
        for file in sorted((LEGACY / folder).rglob("*")):
            if file.is_file():
                digest.update(file.relative_to(LEGACY).as_posix().encode())
                digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def seeded(cache: Path, *args: str, name: str | None = None) -> Path:
    """The legacy's own deterministic seed (migrations included) run with ``args``, built
    once per schema and arguments in ``cache`` and reused (the seed costs a Node start-up
    and a second of CPU; the suite asks for the same few databases many times)."""
    key = hashlib.sha256("\0".join(args).encode()).hexdigest()[:8]
    path = cache / (name or f"seed-{key}-{legacy_fingerprint()}.db")
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.building-{os.getpid()}-{threading.get_ident()}.db")
        tmp.unlink(missing_ok=True)
        subprocess.run(
            ["node", "node_modules/.bin/tsx", "scripts/seed.ts", *args],
            cwd=LEGACY,
            env={**os.environ, "DATABASE_PATH": str(tmp)},
            check=True,
            capture_output=True,
        )
        conn = sqlite3.connect(tmp)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        tmp.rename(path)  # atomic: a concurrent test sees the whole file or none
    return path


def seed(path: Path, *args: str) -> None:
    """The legacy's own deterministic seed (migrations included), copied to ``path``."""
    shutil.copyfile(seeded(Path(tempfile.gettempdir()) / "parity-seeds", *args), path)


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


class PortTaken(RuntimeError):
    """The service exited because another process bound its port first."""


def _listens(process: subprocess.Popen[bytes], port: int) -> bool:
    """A process of the service's (its leader or a descendant) listens on ``port``: an
    answer there from anyone else is not the service's health."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return False
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            for c in proc.net_connections(kind="inet"):
                if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
                    return True
    return False


def _wait_healthy(service: Service, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    port = int(service.url.rsplit(":", 1)[1])
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            said = service.log.read_text(errors="replace")
            if "address already in use" in said.lower() or "eaddrinuse" in said.lower():
                raise PortTaken(f"{service.name}: port {port} taken before it bound it")
            raise RuntimeError(f"{service.name} exited: {said[-2000:]}")
        try:
            answered = httpx.get(f"{service.url}/api/health", timeout=2).status_code == 200
            if answered and _listens(service.process, port):
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
    for attempt in range(3):  # a port another process took before the service bound it
        port = free_port()
        env_ = {**os.environ, "DATABASE_PATH": str(database), "PORT": str(port), **(env or {})}
        if name == "legacy":
            # no npx/npm in between (each costs a Node start-up of its own)
            command = [str(LEGACY / "node_modules" / ".bin" / "next"), "start", "-H", "127.0.0.1"]
            command += ["-p", str(port)]
            if realtime:  # what `npm start` runs: server.ts, bundled by `npm run build`
                command = ["node", "dist/server.cjs"]
                env_.setdefault("NODE_ENV", "production")
            cwd = LEGACY
        else:
            command = [sys.executable, "-m", "backend"]
            cwd = ROOT
        log = log_dir / f"{name}-{port}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env_,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = Service(name, f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_healthy(service)
        except PortTaken:
            stop(process)
            if attempt == 2:
                raise
            continue
        except BaseException:
            stop(process)
            raise
        break
    try:
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
