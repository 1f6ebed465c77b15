"""Nothing a run starts outlives it, even when parity itself is killed with SIGKILL.

A small watcher process (its own session, so a signal to parity's group does not reach it)
reads registrations from a pipe whose write end only parity holds; EOF on that pipe means
parity is gone, and the watcher kills every recorded process group and pid (checked by start
time, so a recycled pid is never hit) and removes the recorded temporary paths. Parity also
keeps a state file (pids, groups, start times, paths) so the next start can clean up after a
run whose watcher was killed too (:func:`clean_stale`). ``PR_SET_PDEATHSIG`` alone would not
do: it reaches only direct children and fires on the death of the spawning thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

# The watcher is a self-contained script (no harness import: it starts in milliseconds and
# cannot be broken by the package it cleans up after).
_WATCHER = r"""
import os, shutil, signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork():
    os._exit(0)  # not parity's child: its process listings and waits never see the watcher
sys.stdout.write(f"{os.getpid()}\n")
sys.stdout.close()
state = sys.argv[1]
groups, pids, paths = {}, {}, set()
def started(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except OSError:
        return None
for line in sys.stdin:
    kind, _, arg = line.rstrip("\n").partition(" ")
    if kind in ("+g", "+p"):
        pid, _, start = arg.partition(" ")
        (groups if kind == "+g" else pids)[int(pid)] = start
    elif kind in ("-g", "-p"):
        (groups if kind == "-g" else pids).pop(int(arg), None)
    elif kind == "+f":
        paths.add(arg)
    elif kind == "-f":
        paths.discard(arg)
def members(pgids):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) in pgids:
                    out.append(int(name))
            except OSError:
                pass
    return out
live = {g for g, s in groups.items() if started(g) == s or started(g) is None}
for sig in (signal.SIGTERM, signal.SIGKILL):
    for pid, start in pids.items():
        if started(pid) == start:
            try: os.kill(pid, sig)
            except OSError: pass
    for pid in members(live):
        try: os.kill(pid, sig)
        except OSError: pass
    deadline = time.monotonic() + 2.0
    def left():
        return members(live) or [p for p, s in pids.items() if started(p) == s]
    while time.monotonic() < deadline and left():
        time.sleep(0.05)
for path in paths:
    shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else None
    try: os.unlink(path)
    except OSError: pass
try: os.unlink(state)
except OSError: pass
"""


def start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, its identity."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def state_dir() -> Path:
    """Where runs keep their state files (per user; ``PARITY_STATE_DIR`` overrides)."""
    override = os.environ.get("PARITY_STATE_DIR")
    if override:
        return Path(override)
    return Path(tempfile.gettempdir()) / f"parity-state-{os.getuid()}"


class Reaper:
    """The parent's side: starts the watcher on first use, records what the run starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: IO[str] | None = None
        self._watcher = 0
        self._state: dict[str, Any] = {}
        self._where: dict[str, str] = {}
        self._path: Path | None = None

    def _ensure(self) -> IO[str]:
        if self._pipe is not None:
            return self._pipe
        folder = state_dir()
        folder.mkdir(parents=True, exist_ok=True)
        me = os.getpid()
        self._path = folder / f"run-{me}.json"
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHER, str(self._path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            close_fds=True,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        os.set_inheritable(proc.stdin.fileno(), False)
        self._watcher = int(proc.stdout.readline().strip() or 0)
        proc.stdout.close()
        proc.wait()  # the intermediate process; the watcher itself was reparented
        self._pipe = proc.stdin
        self._state = {
            "parity": {"pid": me, "start": start_time(me), "argv": sys.argv},
            "watcher": {"pid": self._watcher, "start": start_time(self._watcher)},
            "groups": {},
            "pids": {},
            "paths": [],
        }
        self._save()
        return self._pipe

    def _send(self, line: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            pipe = self._ensure()
            pipe.write(line + "\n")
            pipe.flush()
        self._save()

    def _save(self) -> None:
        if self._path is None:
            return
        tmp = self._path.with_suffix(".tmp")
        with contextlib.suppress(OSError):
            tmp.write_text(json.dumps({**self._state, **self._where}), encoding="utf-8")
            os.replace(tmp, self._path)

    def note(self, phase: str, step: str) -> None:
        """Record where the run is (``phase``, ``step``) in the state file, once a watcher
        runs: whoever finds the file (an operator, a test) sees where a killed run was."""
        with self._lock:
            where = {"phase": phase, "step": step}
            if where != self._where:  # called at every step: write only what changed
                self._where = where
                self._save()

    def group(self, pid: int) -> None:
        """Record a process group led by ``pid`` (a ``start_new_session`` child)."""
        with self._lock:
            start = start_time(pid) or ""
            self._ensure()
            self._state["groups"][str(pid)] = start
            self._send(f"+g {pid} {start}")

    def process(self, pid: int) -> None:
        """Record a single process (one in parity's own group, such as a spawn worker)."""
        with self._lock:
            start = start_time(pid) or ""
            self._ensure()
            self._state["pids"][str(pid)] = start
            self._send(f"+p {pid} {start}")

    def path(self, path: Path) -> None:
        """Record a temporary file or directory to remove if parity dies."""
        with self._lock:
            self._ensure()
            self._state["paths"].append(str(path))
            self._send(f"+f {path}")

    def temporary(self, prefix: str, suffix: str = "", *, directory: bool = False) -> Path:
        """A new temporary file (empty, 0600) or directory (0700) in ``TMPDIR``, recorded
        before it exists: parity killed at any moment leaves no such path behind (creating
        it first and recording it after leaves a window where a kill does)."""
        for _ in range(100):
            path = Path(tempfile.gettempdir()) / f"{prefix}{os.urandom(8).hex()}{suffix}"
            self.path(path)
            try:
                if directory:
                    path.mkdir(mode=0o700)
                else:
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:  # someone else's: not ours to remove
                self.forget(path=path)
                continue
            return path
        raise OSError(f"no free temporary name {prefix}*{suffix} in {tempfile.gettempdir()}")

    def forget(self, pid: int | None = None, path: Path | None = None) -> None:
        """The process was stopped or the path removed by the normal path."""
        with self._lock:
            if self._pipe is None:
                return
            if pid is not None:
                self._state["groups"].pop(str(pid), None)
                self._state["pids"].pop(str(pid), None)
                self._send(f"-g {pid}")
                self._send(f"-p {pid}")
            if path is not None:
                with contextlib.suppress(ValueError):
                    self._state["paths"].remove(str(path))
                self._send(f"-f {path}")

    def kill_all(self) -> None:
        """Close the pipe: the watcher kills what is still recorded (used on a hard exit)."""
        with self._lock:
            if self._pipe is not None:
                with contextlib.suppress(OSError):
                    self._pipe.close()
            watcher, started = self._watcher, self._state.get("watcher", {}).get("start")
        deadline = time.monotonic() + 4.5
        while watcher and start_time(watcher) == started and time.monotonic() < deadline:
            time.sleep(0.02)


REAPER = Reaper()


def stop_group(
    proc: subprocess.Popen[Any], first: int, grace_s: float, *, whole_group: bool = True
) -> None:
    """Stop a ``start_new_session`` child: ``first`` (to its group, or to the leader alone
    when the leader stops its own children, as a postmaster does), ``grace_s`` to exit, then
    SIGKILL to the group, and SIGKILL once more for anything that outlived the leader."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if whole_group:
            os.killpg(proc.pid, first)
        else:
            os.kill(proc.pid, first)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    REAPER.forget(proc.pid)


def _alive(entry: dict[str, Any] | None) -> bool:
    if not entry:
        return False
    pid = int(entry.get("pid", 0))
    return pid > 0 and entry.get("start") is not None and start_time(pid) == entry.get("start")


def clean_stale(say: Any = None) -> str | None:
    """Kill and remove what a killed earlier run left (its parity and watcher both dead).

    Only processes whose pid *and* start time match the state file are touched; returns the
    one-line summary (also passed to ``say``) or None when there was nothing to clean.
    """
    folder = state_dir()
    if not folder.is_dir():
        return None
    killed = 0
    removed = 0
    runs = 0
    for file in sorted(folder.glob("run-*.json")):
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if _alive(state.get("parity")) or _alive(state.get("watcher")):
            continue  # a live run (or its watcher still cleaning up)
        runs += 1
        targets: list[int] = []
        for pid, start in state.get("pids", {}).items():
            if start and start_time(int(pid)) == start:
                targets.append(int(pid))
        leaders = {
            int(pid)
            for pid, start in state.get("groups", {}).items()
            if start and start_time(int(pid)) in (start, None)
        }
        for name in os.listdir("/proc"):
            if name.isdigit():
                with contextlib.suppress(OSError):
                    pid = int(name)
                    if os.getpgid(pid) in leaders and pid != os.getpid():
                        targets.append(pid)
        for pid in set(targets):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        for raw in state.get("paths", []):
            path = Path(raw)
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
            elif path.exists():
                with contextlib.suppress(OSError):
                    path.unlink()
                    removed += 1
        with contextlib.suppress(OSError):
            file.unlink()
    if not runs:
        return None
    line = (
        f"cleaned up after {runs} killed earlier run(s): {killed} process(es) stopped, "
        f"{removed} temporary path(s) removed"
    )
    if say is not None:
        say(line)
    return line


def run_tracked(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | str | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """``subprocess.run`` (text, output captured) in its own process group, recorded with the
    reaper: when the caller is killed, even with SIGKILL, the watcher kills the group; on any
    exception in the caller (a timeout, Ctrl-C) the group is killed before it propagates."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    REAPER.group(proc.pid)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except BaseException:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        REAPER.forget(proc.pid)
    return subprocess.CompletedProcess(argv, proc.returncode, stdout, stderr)
