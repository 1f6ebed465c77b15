"""Start both services on free loopback ports, each on its own copy of one seeded snapshot.

Each service runs in its own process group so stopping it also stops whatever it spawned
(``next start`` leaves a ``next-server`` child); logs go to the run folder.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from harness.db.postgres import psycopg_dsn
from harness.errors import HarnessError, ServiceError
from harness.pair.transport import tls
from harness.setup.config import ExternalConfig, ServiceConfig, SnapshotConfig

__all__ = ["ManagedService", "build_snapshot", "free_port", "log_tail", "render_command"]


PORT_RETRIES = 3  # a service whose chosen port was taken is started again on another one


def free_port() -> int:
    """A port the OS just handed out (bind to 0), so concurrent runs never collide."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def render_command(command: list[str] | str, values: dict[str, str]) -> list[str]:
    parts = shlex.split(command) if isinstance(command, str) else list(command)
    return [_fill(p, values) for p in parts]


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        data = path.read_bytes()[-20_000:]
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _base_values() -> dict[str, str]:
    return {"python": sys.executable}


def build_snapshot(config: SnapshotConfig, base_dir: Path, database: Path, log_path: Path) -> Path:
    """Run the configured seed command once; its output database is the shared snapshot."""
    values = {**_base_values(), "database": str(database), "seed": str(config.seed)}
    argv = render_command(config.command, values)
    env = {**os.environ, **{k: _fill(v, values) for k, v in config.env.items()}}
    cwd = (base_dir / config.cwd).resolve()
    with log_path.open("wb") as log:
        try:
            proc = subprocess.run(
                argv,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=config.timeout_s,
                check=False,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ServiceError(f"snapshot command not found: {argv[0]}") from exc
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(
                f"snapshot command timed out after {config.timeout_s}s: {shlex.join(argv)}",
                log_tail=log_tail(log_path),
            ) from exc
    if proc.returncode != 0:
        raise ServiceError(
            f"snapshot command failed (exit {proc.returncode}): {shlex.join(argv)}",
            log_tail=log_tail(log_path),
        )
    if not database.is_file():
        raise ServiceError(
            f"snapshot command did not create {database}", log_tail=log_tail(log_path)
        )
    # fold any WAL into the main file so plain copies are complete
    import sqlite3

    conn = sqlite3.connect(database)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return database


def database_values(database: Path | str) -> dict[str, str]:
    """The placeholders naming a service's database: ``{database}`` (a file or a URL),
    ``{database_path}`` and ``{database_url}`` (one of the two empty: a service picks its
    engine by which is set). A URL is given in the plain ``postgresql://user@host:port/db``
    form the service's own driver accepts, never parity's SQLAlchemy ``postgresql+psycopg://``
    (node-postgres, pgx, libpq reject a ``+driver`` scheme)."""
    url = isinstance(database, str) and "://" in database
    if not url:
        return {"database": str(database), "database_path": str(database), "database_url": ""}
    plain = psycopg_dsn(str(database))
    return {"database": plain, "database_path": "", "database_url": plain}


@dataclass
class ManagedService:
    """One target process: ``start()`` then ``wait_healthy()``; ``stop()`` always."""

    target: str  # "legacy" | "candidate"
    config: ServiceConfig
    base_dir: Path
    database: Path | str  # a SQLite file, or a PostgreSQL URL
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    argv: list[str] = field(default_factory=list)
    _log: object | None = None
    _log_from: int = 0  # where this start's output begins in the log

    @property
    def name(self) -> str:
        return self.config.name or self.target

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command_line(self) -> str:
        return shlex.join(self.argv)

    def start(self) -> None:
        values = {**_base_values(), "port": str(self.port), **database_values(self.database)}
        self.argv = render_command(self.config.command, values)
        env = {**os.environ, **{k: _fill(v, values) for k, v in self.config.env.items()}}
        cwd = (self.base_dir / self.config.cwd).resolve()
        log = self.log_path.open("ab")
        self._log = log
        self._log_from = log.tell()
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            log.close()
            raise ServiceError(f"{self.name}: cannot start {self.command_line}: {exc}") from exc
        from harness.proc.reaper import REAPER

        REAPER.group(self.process.pid)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def died_error(self, when: str) -> ServiceError:
        code = self.process.poll() if self.process else None
        return ServiceError(
            f"{self.name} ({self.target}) {when} (exit code {code}); log: {self.log_path}",
            log_tail=log_tail(self.log_path),
        )

    def wait_healthy(self, *, new_port: bool = True) -> None:
        """Until the service answers its health check on its port, from a process of its own.
        The port was free when chosen, but another process may bind it before the service
        does (a parallel run, a shard): an answer from a listener that is not this service's
        is not its health, and a service that exits saying the address is in use is started
        again on another free port (``new_port``; at most ``PORT_RETRIES`` times), said in
        its log."""
        deadline = time.monotonic() + self.config.startup_timeout_s
        last = "no answer"
        retries = PORT_RETRIES if new_port else 0
        with httpx.Client(timeout=2.0, verify=tls()) as client:
            while time.monotonic() < deadline:
                url = self.base_url + self.config.health
                if not self.alive():
                    if retries and self._address_in_use():
                        retries -= 1
                        self._start_on_another_port()
                        continue
                    raise self.died_error("exited during startup")
                try:
                    resp = client.get(url)
                    if resp.status_code < 500:
                        if self._listening() is not False:
                            return
                        last = f"port {self.port} answered by a process not of this service"
                    else:
                        last = f"HTTP {resp.status_code}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                time.sleep(0.1)
        raise ServiceError(
            f"{self.name} ({self.target}) not healthy at {self.base_url + self.config.health} "
            f"after {self.config.startup_timeout_s}s ({last}); log: {self.log_path}",
            log_tail=log_tail(self.log_path),
        )

    def _listening(self) -> bool | None:
        """Whether a process of this service (its leader or a descendant) listens on its
        port; None when that cannot be told (no access to the processes' sockets)."""
        if self.process is None:
            return None
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        for proc in procs:
            try:
                conns = proc.net_connections(kind="inet")
            except psutil.AccessDenied:
                return None
            except psutil.Error:
                continue
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == self.port
                for c in conns
            ):
                return True
        return False

    def _address_in_use(self) -> bool:
        """This start's output says the port was taken (EADDRINUSE, as Node, Python and
        most servers word it)."""
        try:
            with self.log_path.open("rb") as f:
                f.seek(self._log_from)
                said = f.read(1 << 16).decode("utf-8", "replace").lower()
        except OSError:
            return False
        return "address already in use" in said or "eaddrinuse" in said

    def _start_on_another_port(self) -> None:
        taken = self.port
        self.stop()
        self.port = free_port()
        with contextlib.suppress(OSError), self.log_path.open("ab") as log:
            log.write(
                f"\nparity: port {taken} was taken by another process before {self.name} "
                f"bound it; starting it again on port {self.port}\n".encode()
            )
        self.start()

    def crash(self) -> None:
        """SIGKILL to the whole process group at once, as a crash or an OOM kill ends a
        service: no shutdown handler runs, so work it held only in memory is lost."""
        self.stop(grace_s=0.0, first=signal.SIGKILL)

    def stop(self, grace_s: float = 5.0, first: int = signal.SIGTERM) -> None:
        proc = self.process
        if proc is None:
            return
        from harness.proc.signals import grace

        # a kill: grace_s is only how long to wait for the killed leader to be reaped
        grace_s = grace(grace_s if first != signal.SIGKILL else 5.0)
        try:
            descendants = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            descendants = []
        from harness.proc.reaper import stop_group

        stop_group(proc, first, grace_s)
        # anything that left the group (setsid children) but is still ours; a zombie is gone
        # (an orphan waits for init to reap it, and some inits never do: psutil would wait)
        _gone, alive = psutil.wait_procs(
            [c for c in descendants if _running(c)], timeout=min(grace_s, 2.0)
        )
        for child in alive:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if self._log is not None:
            with contextlib.suppress(Exception):
                self._log.close()  # type: ignore[attr-defined]
        self.process = None


def _running(process: psutil.Process) -> bool:
    """Alive and not a zombie (dead, its exit status not yet collected)."""
    try:
        return bool(process.is_running() and process.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


def copy_snapshot(snapshot: Path, target: Path) -> Path:
    shutil.copyfile(snapshot, target)
    return target


SETUP_STAMP = "setup_command.json"


def setup_stamp(ext: ExternalConfig, cwd: Path, identity: Sequence[str] = ()) -> str:
    """sha256 over what ``[external] setup_command`` depends on: the rendered command, its
    working directory, ``env`` (as expanded), ``identity`` (the two services' URLs) and each
    ``setup_inputs`` file's path and content, in a stable order. A named file that does not
    exist is a config error; a glob that matches nothing counts as such (a file appearing
    later changes the stamp)."""
    assert ext.setup_command is not None
    assert ext.setup_inputs is not None
    digest = hashlib.sha256()

    def part(label: str, data: bytes) -> None:
        digest.update(f"{label}:{len(data)}:".encode())
        digest.update(data)

    part("argv", json.dumps(render_command(ext.setup_command, _base_values())).encode())
    part("cwd", str(cwd.resolve()).encode())
    env = {k: os.path.expandvars(v) for k, v in sorted(ext.env.items())}
    part("env", json.dumps(env, sort_keys=True).encode())
    for item in identity:
        part("target", item.encode())
    for pattern in ext.setup_inputs:
        if glob.has_magic(pattern):
            found = sorted(Path(p) for p in glob.glob(pattern, root_dir=cwd, recursive=True))
            files = [p for p in found if (cwd / p).is_file()]
            part("glob", f"{pattern} -> {len(files)}".encode())
        else:
            if not (cwd / pattern).is_file():
                raise HarnessError(
                    f"[external] setup_inputs: no file {pattern!r} in {cwd}", kind="config"
                )
            files = [Path(pattern)]
        for rel in files:
            part("path", rel.as_posix().encode())
            part("content", (cwd / rel).read_bytes())
    return digest.hexdigest()


def run_setup_command(
    ext: ExternalConfig,
    cwd: Path,
    stamp_dir: Path | None,
    identity: Sequence[str] = (),
    message: Callable[[str], None] = lambda _text: None,
) -> bool:
    """``[external] setup_command``; whether it ran. With ``setup_inputs`` and a
    ``stamp_dir``, it is skipped when the stamp its last successful run left there matches
    (nothing it depends on changed); the stamp is removed before the command runs and
    written only after it succeeds, so a failed or interrupted run never leaves one."""
    assert ext.setup_command is not None
    stamp_file = stamp_dir / SETUP_STAMP if stamp_dir is not None else None
    stamp = setup_stamp(ext, cwd, identity) if ext.setup_inputs is not None else None
    if stamp is not None and stamp_file is not None:
        try:
            previous = json.loads(stamp_file.read_text())
        except (OSError, ValueError):
            previous = None
        if isinstance(previous, dict) and previous.get("stamp") == stamp:
            message(f"setup_command skipped: inputs unchanged since {previous.get('at', '?')}")
            return False
        stamp_file.unlink(missing_ok=True)
    message("running [external] setup_command")
    run_reset_command(ext.setup_command, cwd, ext.timeout_s, ext.env, what="setup command")
    if stamp is not None and stamp_file is not None:
        stamp_file.parent.mkdir(parents=True, exist_ok=True)
        at = datetime.now(UTC).isoformat(timespec="seconds")
        part = stamp_file.with_suffix(".tmp")
        part.write_text(json.dumps({"stamp": stamp, "at": at}))
        part.replace(stamp_file)
    return True


def run_reset_command(
    command: list[str] | str,
    cwd: Path,
    timeout_s: float,
    env: dict[str, str] | None = None,
    *,
    what: str = "reset command",
) -> None:
    argv = render_command(command, _base_values())
    full_env = None
    if env:
        full_env = {**os.environ, **{k: os.path.expandvars(v) for k, v in env.items()}}
    try:
        proc = subprocess.run(
            argv, cwd=cwd, capture_output=True, timeout=timeout_s, check=False, env=full_env
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"{what} failed: {shlex.join(argv)}: {exc}") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).decode("utf-8", "replace")[-2000:]
        raise HarnessError(f"{what} exited {proc.returncode}: {shlex.join(argv)}", log_tail=tail)
