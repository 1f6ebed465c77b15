"""A private PostgreSQL server for one run: initdb in a temporary directory, a unix socket
there plus a free 127.0.0.1 port, ``fsync=off``; stopped and removed on exit.

initdb and postgres refuse to run as root, so as root both run as the ``postgres`` system
user (Debian's package creates it; ``nobody`` otherwise) through ``Popen(user=...)``: no
``su``/``runuser`` in between, so the postmaster is our direct child and the leader of its
own process group, and stopping it (fast shutdown, then SIGKILL to the group) leaves nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from harness.pair.services import free_port, log_tail

__all__ = ["PgServer", "find_bindir", "pg_available", "pg_server"]

SUPERUSER = "postgres"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` holding initdb and postgres, else PATH's."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    for directory in candidates:
        if (Path(directory) / "initdb").is_file() and (Path(directory) / "postgres").is_file():
            return Path(directory)
    initdb = shutil.which("initdb")
    if initdb:
        real = Path(initdb).resolve().parent
        if (real / "postgres").is_file():
            return real
    return None


def pg_available() -> bool:
    return find_bindir() is not None


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, or None to stay who we are (not root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise HarnessError("running as root and neither a 'postgres' nor a 'nobody' user exists")


@dataclass
class PgServer:
    """One running server; ``url(db)`` names a database on it (TCP on 127.0.0.1)."""

    root: Path
    port: int
    bindir: Path
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq connection string over the unix socket (no TCP stack: a little faster)."""
        return f"host={self.socket_dir} port={self.port} user={SUPERUSER} dbname={database}"

    def start(self, timeout_s: float = 30.0) -> None:
        ids = _run_as()
        data = self.root / "data"
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if ids is not None:
            for path in (self.root, self.socket_dir):
                os.chown(path, *ids)
        uid, gid = ids if ids else (None, None)
        groups: list[int] | None = [] if ids else None
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "--auth=trust",
                f"--username={SUPERUSER}",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            capture_output=True,
            env=env,
            cwd=self.root,
            check=False,
            user=uid,
            group=gid,
            extra_groups=groups,
        )
        if init.returncode != 0:
            raise HarnessError(
                f"initdb failed (exit {init.returncode})",
                kind="database",
                log_tail=(init.stdout + init.stderr).decode("utf-8", "replace")[-2000:],
            )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "200",
            "shared_buffers": "64MB",
            "logging_collector": "off",
        }
        argv = [str(self.bindir / "postgres"), "-D", str(data)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        log = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.root,
                start_new_session=True,
                user=uid,
                group=gid,
                extra_groups=groups,
            )
        finally:
            log.close()
        from harness.proc.reaper import REAPER

        REAPER.group(self.process.pid)
        self._wait_ready(timeout_s)

    def _wait_ready(self, timeout_s: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise HarnessError(
                    "postgres exited during startup",
                    kind="database",
                    log_tail=log_tail(self.log_path),
                )
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                last = str(exc).strip()
            time.sleep(0.05)
        self.stop()
        raise HarnessError(
            f"postgres not ready after {timeout_s}s ({last})",
            kind="database",
            log_tail=log_tail(self.log_path),
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected), then SIGKILL to the group."""
        proc = self.process
        if proc is None:
            return
        from harness.proc.reaper import stop_group
        from harness.proc.signals import grace

        stop_group(proc, signal.SIGINT, grace(grace_s), whole_group=False)
        self.process = None

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run ``sql`` in autocommit (CREATE/DROP DATABASE cannot run in a transaction)."""
        import psycopg

        with psycopg.connect(self.dsn(database), autocommit=True) as conn:
            conn.execute(sql.encode())


@contextmanager
def pg_server(root: Path | None = None, *, keep_log: Path | None = None) -> Iterator[PgServer]:
    """Start a private server; stop it and remove its directory however the block ends.

    ``keep_log``: copy the server's log there before the directory goes (a run folder).
    """
    bindir = find_bindir()
    if bindir is None:
        raise HarnessError(
            "PostgreSQL is not installed (no initdb/postgres in /usr/lib/postgresql/*/bin or "
            "PATH); install Debian's 'postgresql' package",
            kind="database",
        )
    made = root is None
    if root is None:  # recorded before it exists: a kill at any moment leaves no folder
        from harness.proc.reaper import REAPER

        base = REAPER.temporary("parity-pg-", directory=True)
    else:
        base = root
        base.mkdir(parents=True, exist_ok=True)
    server = PgServer(root=base, port=free_port(), bindir=bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if keep_log is not None:
            with contextlib.suppress(OSError):
                shutil.copyfile(server.log_path, keep_log)
        if made:
            shutil.rmtree(base, ignore_errors=True)
