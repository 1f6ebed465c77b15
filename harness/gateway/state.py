"""The gateway's runtime route table: modes changed while it runs, kept across restarts.

The table starts from the configuration; every change (``shift``: by a person through the
admin API or ``parity gateway shift``, or by the schedule or breaker) is validated, written to
the state file atomically (a temporary file, fsync, rename: a crash leaves the old table or
the new one, never half of one) and appended to a change log beside it (one JSON line per
change: time, who, why, before, after). A restarted gateway reads the state file back.

Several gateway instances may share one state file (one per host behind a load balancer):
each reads it again when it changed on disk (checked at most every ``refresh_s``), so a shift
made through one instance reaches the others within that time; a change is a read, modify
and write under an exclusive lock on ``<state>.lock``, so two instances shifting at once
never lose one of the two changes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError
from harness.gateway.policy import Mode, PolicyError, validate_mode

__all__ = ["Change", "RouteSetting", "RouteTable", "StateFile", "log_path"]

Kind = Literal["config", "shift", "schedule", "breaker"]


class RouteSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode
    percent: float = 0.0
    at: datetime
    who: str
    why: str
    schedule: dict[str, Any] | None = Field(
        None, description="the route's promotion schedule state, when it has one"
    )


class StateFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    routes: dict[str, RouteSetting] = Field(default_factory=dict)


class Change(BaseModel):
    """One line of the change log."""

    at: datetime
    who: str
    why: str
    kind: Kind
    route: str
    before: tuple[Mode, float]
    after: tuple[Mode, float]


def log_path(state_path: Path) -> Path:
    return state_path.with_name(state_path.name + ".log.jsonl")


def _now() -> datetime:
    return datetime.now(UTC)


class RouteTable:
    """Routes' modes, the state file and the change log. Thread-safe; every write is durable."""

    def __init__(
        self,
        path: Path | None,
        *,
        defaults: Mapping[str, tuple[str, float | None]],
        databases: str = "shared",
        clock: Callable[[], datetime] = _now,
        refresh_s: float = 0.5,
    ) -> None:
        self.path = path
        self.databases = databases
        self.clock = clock
        self.refresh_s = refresh_s
        self._lock = threading.RLock()
        self._seen: tuple[int, int, int] | None = None  # the state file's (inode, mtime, size)
        self._checked = time.monotonic()
        now = clock()
        routes: dict[str, RouteSetting] = {}
        for route, (mode, percent) in defaults.items():
            checked, pct = validate_mode(mode, percent, databases)
            routes[route] = RouteSetting(
                mode=checked, percent=pct, at=now, who="config", why="parity.toml"
            )
        self._routes = routes
        if path is not None and path.exists():
            self._load(path)

    def _stamp(self) -> tuple[int, int, int] | None:
        assert self.path is not None
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _load(self, path: Path) -> None:
        """Take the saved mode of every configured route (a route no longer configured: its
        saved mode no longer applies)."""
        stamp = self._stamp()
        routes = dict(self._routes)
        for route, saved in self._read(path).routes.items():
            if route not in routes:
                continue
            try:
                validate_mode(saved.mode, saved.percent, self.databases)
            except PolicyError as exc:
                raise HarnessError(
                    f"{path}: route {route!r} is saved as {saved.mode} but {exc.message}; "
                    "shift it back or remove the state file"
                ) from exc
            routes[route] = saved
        self._routes = routes
        self._seen = stamp

    def _refresh(self, *, force: bool = False) -> None:
        """Read the state file again if another instance changed it (under ``_lock``)."""
        if self.path is None:
            return
        now = time.monotonic()
        if not force and now - self._checked < self.refresh_s:
            return
        self._checked = now
        stamp = self._stamp()
        if stamp is not None and stamp != self._seen:
            try:
                self._load(self.path)
            except HarnessError:
                if force:
                    raise
                # a broken file written by hand: keep serving the table we have

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """This thread alone, and this instance alone among those sharing the state file."""
        with self._lock:
            if self.path is None:
                yield
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_name(self.path.name + ".lock"), "a") as lock:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
                try:
                    self._refresh(force=True)  # another instance's change is not lost
                    yield
                finally:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _read(path: Path) -> StateFile:
        try:
            return StateFile.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError) as exc:
            raise HarnessError(f"{path}: the gateway state file cannot be read: {exc}") from exc

    def routes(self) -> dict[str, RouteSetting]:
        with self._lock:
            self._refresh()
            return dict(self._routes)

    def __contains__(self, route: object) -> bool:
        return route in self._routes

    def get(self, route: str) -> RouteSetting:
        with self._lock:
            self._refresh()
            try:
                return self._routes[route]
            except KeyError:
                raise PolicyError(self._unknown(route)) from None

    def _unknown(self, route: str) -> str:
        known = ", ".join(sorted(self._routes)) or "none"
        return f"route {route!r} is not a configured gateway route (configured: {known})"

    def shift(
        self,
        route: str,
        mode: str,
        percent: float | None,
        reason: str,
        who: str,
        *,
        kind: Kind = "shift",
        schedule: dict[str, Any] | None = None,
        keep_schedule: bool = False,
    ) -> Change:
        """Change one route's mode; refused (PolicyError, nothing written) when unsafe."""
        if not reason.strip():
            raise PolicyError("a shift needs a reason (it goes to the change log)")
        if not who.strip():
            raise PolicyError("a shift needs to say who made it")
        checked, pct = validate_mode(mode, percent, self.databases)
        with self._exclusive():
            before = self._routes.get(route)
            if before is None:
                raise PolicyError(self._unknown(route))
            now = self.clock()
            kept = before.schedule if keep_schedule else schedule
            after = RouteSetting(
                mode=checked, percent=pct, at=now, who=who, why=reason, schedule=kept
            )
            routes = {**self._routes, route: after}
            change = Change(
                at=now,
                who=who,
                why=reason,
                kind=kind,
                route=route,
                before=(before.mode, before.percent),
                after=(checked, pct),
            )
            self._write(routes, change)
            self._routes = routes
            return change

    def set_schedule(self, route: str, schedule: dict[str, Any] | None) -> None:
        """Keep a schedule's progress (no change of mode: nothing logged)."""
        with self._exclusive():
            current = self._routes[route]
            routes = {**self._routes, route: current.model_copy(update={"schedule": schedule})}
            self._write(routes, None)
            self._routes = routes

    def changes(self, last: int | None = None) -> list[Change]:
        """The change log, oldest first (the last ``last`` lines when given)."""
        if self.path is None or not log_path(self.path).exists():
            return []
        lines = log_path(self.path).read_text(encoding="utf-8").splitlines()
        picked: Iterable[str] = lines[-last:] if last else lines
        return [Change.model_validate_json(line) for line in picked if line.strip()]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._refresh()
            return {r: s.model_dump(mode="json") for r, s in sorted(self._routes.items())}

    def _write(self, routes: dict[str, RouteSetting], change: Change | None) -> None:
        if self.path is None:
            return
        document = StateFile(routes=routes).model_dump_json(indent=2).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(document)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._seen = self._stamp()  # our own write: nothing to read back
        if change is not None:
            line = json.dumps(change.model_dump(mode="json"), separators=(",", ":")) + "\n"
            with log_path(self.path).open("a", encoding="utf-8") as log:
                log.write(line)
                log.flush()
                os.fsync(log.fileno())
