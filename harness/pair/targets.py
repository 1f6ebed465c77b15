"""The pair under test as the phases see it: two targets, their transport, watchers, restore.

``open_pair`` starts both services on copies of one seeded snapshot (managed mode) or wraps
two URLs (external mode), logs every role in, and tears everything down on the way out.
Phases use only the verbs here (send, read writes, restore), never the services themselves.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from harness.cases.generation import build_request
from harness.compare.comparison import Clock
from harness.db.postgres import psycopg_dsn
from harness.db.sqlite import DbWatcher
from harness.db.watcher import Watcher, engine_of, open_watcher
from harness.errors import HarnessError, ServiceError
from harness.models import PreparedRequest, Response, Writes, walk
from harness.pair.services import (
    ManagedService,
    build_snapshot,
    copy_snapshot,
    render_command,
    run_reset_command,
    run_setup_command,
)
from harness.pair.settle import Settled, settle_with, to_follow
from harness.pair.transport import Target, TargetUnreachable, Transport
from harness.proc import signals
from harness.setup.config import Command, ParityConfig, Profile, ServiceConfig
from harness.setup.contract import match_operation
from harness.setup.envelope import unwrap_response
from harness.setup.settling import SettleRule
from harness.setup.signing import Signer

__all__ = [
    "Pair",
    "Sessions",
    "Timings",
    "check_tokens",
    "extract",
    "login",
    "open_pair",
]

_T = TypeVar("_T")
SIDES = ("legacy", "candidate")
# managed mode's PostgreSQL targets on this server instead of a private one started per run
POSTGRES_URL_VARIABLE = "PARITY_POSTGRES_URL"


@dataclass
class Timings:
    """Seconds spent per kind of work over the run (the results' ``stats.timings_s``)."""

    generation: float = 0.0
    transport: float = 0.0
    compare: float = 0.0
    dbdiff: float = 0.0
    reset: float = 0.0
    shrink: float = 0.0
    invariants: float = 0.0
    login: float = 0.0
    startup: float = 0.0
    stateful: float = 0.0
    interop: float = 0.0
    realtime: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


@dataclass
class Pair:
    """Both targets (plus the A/A twin when calibrating), how to reach and reset them."""

    config: ParityConfig
    mode: str  # "managed" | "external"
    run_dir: Path
    tmp: Path
    timings: Timings
    services: dict[str, ManagedService] = field(default_factory=dict)
    targets: dict[str, Target] = field(default_factory=dict)
    watchers: dict[str, Watcher] = field(default_factory=dict)
    snapshot: Path | None = None
    transport: Transport | None = None
    engines: dict[str, str] = field(default_factory=dict)  # target -> sqlite | postgresql
    templates: dict[str, str] = field(default_factory=dict)  # target -> its PostgreSQL template
    stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    # each request since the state was last restored: target -> (sent, answered), epoch s
    spans: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    # the harness's own logins (their sessions, and what they stamp, outlive restores)
    login_spans: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    # URL mode: a write may have changed the services since the last reset; a sequence
    # (steps that must see each other's writes) is running; reset commands run
    dirty: bool = False
    in_sequence: bool = False
    # writes per request (a replay: never restored between requests): each read of the
    # writes moves the watchers' baseline to the state it read, so the next request's are
    # its own; per target, the tables written since the last restore
    stepwise: bool = False
    written_since: dict[str, set[str]] = field(default_factory=dict)
    # managed mode: sessions logged in again mid-sequence vanish with the next restore, which
    # brings back the ones they replaced: (target, role) -> the token to put back then
    reinstate: dict[tuple[str, str], str] = field(default_factory=dict)
    resets: int = 0
    # the role key whose tokens were logged out during setup (the logged-out-token probe),
    # or why there is none
    logged_out: str | None = None
    logged_out_note: str | None = None
    # requests re-sent on a fresh connection after a dropped one, per target (every
    # transport of the run counts here)
    retries: dict[str, int] = field(default_factory=dict)
    # roles sent with a fixed token (never logged in nor renewed) -> where it comes from
    fixed: dict[str, str] = field(default_factory=dict)
    # the durability probe of background jobs (the profile's restart_jobs; [[settle]]
    # restart): restarts each rule has used; held while something must not see a restart
    restart_jobs: str = "rules"
    restarts_used: dict[str, int] = field(default_factory=dict)
    restarts_held: int = 0
    restart_time: float = 0.0  # seconds spent restarting services for it
    _db_pool: ThreadPoolExecutor | None = None

    # -- sending ------------------------------------------------------------------------------
    @property
    def has_twin(self) -> bool:
        return "legacy_aa" in self.targets

    def send(
        self, req: PreparedRequest, candidate_req: PreparedRequest | None = None, *, twin: bool
    ) -> tuple[Response, Response, Response | None]:
        """The request on both targets at once (and on the A/A twin when asked)."""
        assert self.transport is not None
        started = time.perf_counter()
        try:
            if twin and self.has_twin:
                legacy, candidate, aa = self.transport.send_with("legacy_aa", req, candidate_req)
            else:
                legacy, candidate = self.transport.send_pair(req, candidate_req)
                aa = None
        except TargetUnreachable as exc:
            raise self.unreachable(exc) from exc
        self.timings.transport += time.perf_counter() - started
        answers = (("legacy", legacy), ("candidate", candidate), ("legacy_aa", aa))
        self.spans.append({k: r.window for k, r in answers if r is not None and r.window})
        legacy = _unwrapped(self.config, "legacy", legacy, req.operation)
        candidate = _unwrapped(self.config, "candidate", candidate, req.operation)
        if aa is not None:
            aa = _unwrapped(self.config, "legacy_aa", aa, req.operation)
        return legacy, candidate, aa

    def clock(self, a: str = "legacy", b: str = "candidate") -> Clock:
        """The request windows of everything since the last restore, for two targets."""
        return Clock.over(self.login_spans, self.spans, a=a, b=b)

    def send_one(self, key: str, req: PreparedRequest) -> Response:
        assert self.transport is not None
        try:
            resp = self.transport.send_one(key, req)
        except TargetUnreachable as exc:
            raise self.unreachable(exc) from exc
        return _unwrapped(self.config, key, resp, req.operation)

    def follow(self, req: PreparedRequest, answers: dict[str, Response]) -> dict[str, Settled]:
        """Each answer that started a background job (``[[settle]]``, or a 202 with a
        ``Location``) followed to its end on its own target, all at once, so the job's rows
        are written (and attributed to ``req``) before they are read and restored."""
        chosen = to_follow(self.config.settle, req, answers)
        if not chosen:
            return {}
        started = time.perf_counter()
        chosen = {key: self._restart_rule(rule, chosen) for key, rule in chosen.items()}
        restarting = {key for key, rule in chosen.items() if rule.restart in (key, "both")}

        def one(key: str) -> Settled:
            def restart() -> None:
                self.restart_services({}, (key,), crash=True)

            return settle_with(
                lambda poll: self.send_one(key, poll),
                req,
                answers[key],
                chosen[key],
                restart if key in restarting else None,
            )

        try:
            settled = self.each(list(chosen), one)
        finally:
            self.timings.transport += time.perf_counter() - started
        if any(done.restarted for done in settled.values()):
            rule = next(iter(chosen.values()))
            self.restarts_used[rule.operation] = self.restarts_used.get(rule.operation, 0) + 1
        # the job's rows were stamped between the request and the poll that saw it end: one
        # window per side from the request's start to that poll's answer (no offset needed)
        span = {
            key: (first.window[0], done.final.window[1])
            for key, done in settled.items()
            if (first := answers[key]).window and done.final is not None and done.final.window
        }
        if span:
            self.spans.append(span)
        return settled

    def _restart_rule(self, rule: SettleRule, chosen: dict[str, SettleRule]) -> SettleRule:
        """``rule`` with the restart this job gets: the profile's ``restart_jobs`` over the
        rule's own, none once the rule's ``restarts`` are used, outside managed mode, with an
        A/A twin (calibration measures noise, not durability), while held (a phase with
        streams open on the services) or when a side is not one of the pair's two."""
        restart = rule.restart if self.restart_jobs == "rules" else self.restart_jobs
        if restart == "off" or (
            self.mode != "managed"
            or self.has_twin
            or self.restarts_held
            or not set(chosen) <= set(SIDES)
            or self.restarts_used.get(rule.operation, 0) >= rule.restarts
        ):
            restart = None
        if restart == rule.restart:
            return rule
        return rule.model_copy(update={"restart": restart})

    @contextlib.contextmanager
    def holding_restarts(self) -> Iterator[None]:
        """No durability-probe restart inside: connections that must stay open (a realtime
        stream) would break with the service."""
        self.restarts_held += 1
        try:
            yield
        finally:
            self.restarts_held -= 1

    def unreachable(self, exc: TargetUnreachable) -> HarnessError:
        service = self.services.get(exc.target)
        if service is not None:
            deadline = time.monotonic() + 1.0
            while service.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not service.alive():
                return service.died_error("died mid-run")
            return ServiceError(
                f"{service.name} ({exc.target}) stopped answering: {exc.detail}", log_tail=None
            )
        return HarnessError(f"{exc.target} is unreachable: {exc.detail}", kind="service")

    def check_alive(self) -> None:
        for service in self.services.values():
            if not service.alive():
                raise service.died_error("died mid-run")

    # -- databases ----------------------------------------------------------------------------
    def each(self, keys: list[str], work: Callable[[str], _T]) -> dict[str, _T]:
        """``work(key)`` for every target at once: each database is its own file and
        connection, and sqlite3 releases the GIL, so the two sides overlap."""
        if len(keys) < 2:
            return {k: work(k) for k in keys}
        if self._db_pool is None:
            self._db_pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="parity-db")
        futures = {k: self._db_pool.submit(work, k) for k in keys}
        # woken now and then: a signal taken by a database thread must not wait for the diff
        return {k: signals.result(f) for k, f in futures.items()}

    def read_writes(self, keys: list[str]) -> dict[str, tuple[bool, Writes]]:
        """Per target: whether its database changed since the baseline, and the rows."""
        started = time.perf_counter()
        # the cheap check inline (most requests write nothing): threads only for real reads
        changed = {key: self.watchers[key].changed() for key in keys}
        if any(changed.values()):
            signals.at(step="database diff")  # not reset on an interruption: it says where
            rows = self.each([k for k in keys if changed[k]], lambda k: self.watchers[k].writes())
            if self.stepwise:  # the state just read is the next request's "before"
                moved = [k for k in keys if changed[k]]
                self.each(moved, lambda k: self.watchers[k].rebase())
                for key in moved:
                    self.written_since.setdefault(key, set()).update(rows[key])
            signals.at(step="")
        else:
            rows = {}
        self.timings.dbdiff += time.perf_counter() - started
        return {key: (changed[key], rows.get(key, {})) for key in keys}

    def restore(self, *, wrote: bool = True) -> None:
        """Every target's database back to its baseline, if anything changed it. In URL
        mode with ``[external] databases``, ``reset_command`` runs first (the services' own
        state: caches, files, or the database reset in place; not after a read that changed
        no database, ``wrote=False``), then each watched database that still differs is
        restored by its watcher. In URL mode without databases the reset is batched: it
        runs before the next case that could observe a write (``settle``), so a run of
        reads pays for none."""
        self.in_sequence = False
        if not self.watchers:
            return
        for (key, role), token in self.reinstate.items():
            self.targets[key].tokens[role] = token
        self.reinstate.clear()
        if self.mode == "external" and wrote and self.config.external.reset_command:
            self.reset_external()  # timed on its own
        started = time.perf_counter()
        # a baseline moved by a stepwise read hides the writes before it from changed()
        changed = [k for k, w in self.watchers.items() if k in self.written_since or w.changed()]
        self.written_since = {}
        self.each(changed, lambda key: self.watchers[key].restore())
        self.spans = []  # a new list: clocks already taken keep theirs
        self.timings.reset += time.perf_counter() - started

    def note_answers(self, req: PreparedRequest, legacy: Response, candidate: Response) -> None:
        """URL mode: a write that either side did not reject (a 4xx changes nothing) may
        have changed state a later case could observe."""
        if self.watchers or req.method in ("GET", "HEAD", "OPTIONS"):
            return
        if not (400 <= legacy.status < 500 and 400 <= candidate.status < 500):
            self.dirty = True

    def settle(self) -> None:
        """URL mode: reset both services if a write since the last reset may show."""
        if self.dirty and not self.watchers and self.config.external.reset_command:
            self.reset_external()

    def reset_external(self) -> None:
        ext = self.config.external
        assert ext.reset_command is not None
        started = time.perf_counter()
        run_reset_command(ext.reset_command, self.config.resolve(ext.cwd), ext.timeout_s, ext.env)
        self.resets += 1
        self.dirty = False
        self.spans = []  # a new list: clocks already taken keep theirs
        self.timings.reset += time.perf_counter() - started

    @property
    def restores(self) -> int:
        return sum(w.restores for w in self.watchers.values())

    # -- extra services (interop) -------------------------------------------------------------
    def start_service(
        self, key: str, config: ServiceConfig, database: Path | str
    ) -> ManagedService:
        service = ManagedService(
            target=key,
            config=config,
            base_dir=self.config.base_dir,
            database=database,
            log_path=self.run_dir / f"{key}.log",
        )
        self.services[key] = service
        service.start()
        return service

    def restart_services(
        self, env: dict[str, str], keys: tuple[str, ...] = SIDES, *, crash: bool = False
    ) -> None:
        """Managed mode: these services stopped and started again on their own databases and
        ports, with ``env`` over their configured env (``{}``: as configured). Their state
        (sessions included) is in the databases, which a restart keeps. ``crash``: killed
        (SIGKILL to the process group, no shutdown) instead of stopped."""
        started = time.perf_counter()
        for key in keys:
            old = self.services[key]
            if crash:
                old.crash()
            else:
                old.stop()
            config = self.config.services[key]
            if env:
                config = config.model_copy(update={"env": {**config.env, **env}})
            self.services[key] = ManagedService(
                target=key,
                config=config,
                base_dir=old.base_dir,
                database=old.database,
                log_path=old.log_path,
                port=old.port,
            )
            self.services[key].start()
        for key in keys:  # on the same port: the targets and the transport know it
            self.services[key].wait_healthy(new_port=False)
        if self.transport is not None:
            self.transport.reconnect(list(keys))
        if crash:
            self.restart_time += time.perf_counter() - started

    def stop_service(self, key: str) -> None:
        service = self.services.pop(key, None)
        if service is not None:
            service.stop()

    def new_transport(self, legacy: Target, candidate: Target) -> Transport:
        return Transport(
            legacy,
            candidate,
            timeout_s=self.config.compare.timeout_s,
            retries=self.retries,
            **auth_placement(self.config),
        )

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        interrupted = signals.interrupted_at() is not None
        if self._db_pool is not None:
            # interrupted mid-diff: do not wait for a big table's read to end (the services
            # stop meanwhile); its connection is left to the exit, not closed under it
            self._db_pool.shutdown(wait=not interrupted, cancel_futures=True)
            self._db_pool = None
        if not interrupted:
            for watcher in self.watchers.values():
                watcher.close()
        for service in self.services.values():
            service.stop()
        self.stack.close()  # a private PostgreSQL server, after its clients are gone

    @property
    def cross_engine(self) -> bool:
        return len({self.engines.get(k, "sqlite") for k in SIDES}) > 1


def extract(body: Any, path: str) -> Any:
    """``$.token`` / ``$.data.0.id`` -> the value in ``body``, or None."""
    return walk(body, [part for part in path.lstrip("$").strip(".").split(".") if part])


def _unwrapped(config: ParityConfig, key: str, resp: Response, operation: str) -> Response:
    """An answer without the envelope its side wraps answers in (``unwrap`` rules): every
    later step (comparison, links, ids read from bodies, the report) sees it unwrapped."""
    side = "legacy" if key.startswith("legacy") else "candidate"
    for rule in config.unwrap_rules:
        if (
            rule.action == "unwrap"
            and rule.side == side
            and match_operation(rule.operation, operation)
        ):
            resp = unwrap_response(resp, rule.envelope)
    return resp


def set_cookies(resp: Response) -> dict[str, str]:
    """The cookies an answer sets, name -> value (attributes dropped)."""
    out: dict[str, str] = {}
    for key, value in resp.headers:
        if key == "set-cookie":
            name, _, rest = value.partition("=")
            out[name.strip()] = rest.split(";", 1)[0].strip()
    return out


def credential_at(where: str, resp: Response, body: Any, cookies: dict[str, str]) -> Any:
    """``cookie:NAME``, ``header:NAME`` or a body path ``$.csrf``: a value in a login answer."""
    kind, _, name = where.partition(":")
    if kind == "cookie":
        return cookies.get(name)
    if kind == "header":
        return next((v for k, v in resp.headers if k == name.lower()), None)
    return extract(body, where)


def login(
    config: ParityConfig,
    transport: Transport,
    targets: dict[str, Target],
    pair: Pair,
    *,
    roles: list[str] | None = None,
    as_key: Callable[[str], str] = lambda role: role,
) -> None:
    """Log every configured role (or ``roles``) in on every target; the token is stored
    under ``as_key(role)``. A failed login is a harness error."""
    auth = config.auth
    if auth is None or not auth.roles:
        return
    for role, role_cfg in auth.roles.items():
        if roles is not None and role not in roles:
            continue
        scheme = auth.for_role(role)
        fixed = auth.fixed_token(role)
        if fixed is not None:  # sent as is, never renewed (no expiry)
            pair.fixed[role] = auth.token_source(role)
            for target in targets.values():
                target.tokens[as_key(role)] = fixed
                if scheme.token_in == "cookie":
                    target.cookies[as_key(role)] = (
                        f"{scheme.name}={fixed}" if scheme.name else fixed
                    )
            continue
        assert scheme.login is not None
        assert role_cfg.body is not None
        method, _, path = scheme.login.partition(" ")
        req = build_request(
            operation=scheme.login,
            method=method.upper(),
            path=path,
            query=(),
            headers=(("Content-Type", "application/json"),),
            role=None,
            mode="login",
            json_body=role_cfg.body,
        )
        windows: dict[str, tuple[float, float]] = {}
        for key, target, resp in _send_to_each(transport, targets, req, pair):
            if resp.window is not None:
                windows[key] = resp.window
            body = _unwrapped(config, key, resp, scheme.login).body
            cookies = set_cookies(resp)
            if scheme.token_in == "cookie":
                token = cookies.get(scheme.name or "", next(iter(cookies.values()), None))
            else:
                token = extract(body, scheme.token_path)
            if not (200 <= resp.status < 300) or not isinstance(token, str):
                where = (
                    f"cookie {scheme.name}" if scheme.token_in == "cookie" else scheme.token_path
                )
                hint = (
                    f"; a 404: the base path ({target.base_url}) or [auth] login does not "
                    "match the service"
                    if resp.status == 404
                    else ""
                )
                raise HarnessError(
                    f"login as {role!r} on {key} failed: {scheme.login} -> {resp.status} "
                    f"{resp.text[:200]!r} (token {where}){hint}",
                    kind="auth",
                )
            target.tokens[as_key(role)] = token
            if scheme.token_in == "cookie":
                target.cookies[as_key(role)] = "; ".join(f"{k}={v}" for k, v in cookies.items())
            if scheme.csrf_from:
                csrf = credential_at(scheme.csrf_from, resp, body, cookies)
                if isinstance(csrf, str):
                    target.csrf[as_key(role)] = csrf
            ttl = extract(body, scheme.expires_path) if scheme.expires_path else None
            ttl = ttl if isinstance(ttl, int | float) else scheme.token_ttl_s
            if ttl:  # renewed at 60% of its life: a request in flight never meets the end
                target.expires[as_key(role)] = time.monotonic() + 0.6 * float(ttl)
        pair.login_spans.append(windows)  # a login may stamp rows (a session, an event)


def _send_to_each(
    transport: Transport, targets: dict[str, Target], req: PreparedRequest, pair: Pair
) -> list[tuple[str, Target, Response]]:
    """One request to every target at once (a login hashes a password on each side: in turn,
    a run's logins took over a second); answers in the targets' order."""

    def one(key: str) -> Response:
        try:
            return transport.send_one(key, req)
        except TargetUnreachable as exc:
            raise pair.unreachable(exc) from exc

    with ThreadPoolExecutor(max_workers=max(len(targets), 1)) as pool:
        futures = {key: pool.submit(one, key) for key in targets}
        return [(key, target, signals.result(futures[key])) for key, target in targets.items()]


class Sessions:
    """Role sessions that survive the run: a case that can end its caller's session runs on
    a session of its own, and a role whose answers turn to 401 is logged in again."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.renewed: list[str] = []  # what was renewed, for the results' notes
        self._serial = 0

    def _sides(self) -> dict[str, Target]:
        return {k: t for k, t in self.pair.targets.items() if k in SIDES}

    def renew(self, role: str) -> None:
        assert self.pair.transport is not None
        login(self.pair.config, self.pair.transport, self._sides(), self.pair, roles=[role])

    def renew_due(self, role: str | None) -> bool:
        """Log ``role`` in again when its token is near the end of the life its login
        announced (``[auth] expires_path`` / ``token_ttl_s``): an expiry is not drift."""
        if role is None or "#" in role:
            return False
        now = time.monotonic()
        if not any(t.expires.get(role, now + 1) <= now for t in self._sides().values()):
            return False
        self.renew(role)
        return True

    @contextlib.contextmanager
    def own(self, role: str) -> Iterator[str]:
        """A fresh session of ``role`` on both sides, under a key of its own; dropped after."""
        assert self.pair.transport is not None
        self._serial += 1
        key = f"{role}#{self._serial}"
        login(
            self.pair.config,
            self.pair.transport,
            self._sides(),
            self.pair,
            roles=[role],
            as_key=lambda _role: key,
        )
        try:
            yield key
        finally:
            for target in self._sides().values():
                for store in (target.tokens, target.cookies, target.csrf, target.expires):
                    store.pop(key, None)


@contextlib.contextmanager
def open_pair(
    config: ParityConfig,
    profile: Profile,
    run_dir: Path,
    *,
    legacy_url: str | None = None,
    candidate_url: str | None = None,
    base_path: str = "",
    message: Callable[[str], None] = lambda _text: None,
    logout: str | None = None,
    snapshot_file: Path | None = None,
    stamp_dir: Path | None = None,
) -> Iterator[Pair]:
    """Both targets up, logged in and watched; everything stopped and removed on exit.
    ``snapshot_file``: a SQLite file both sides start from instead of the seeded snapshot
    (a replay starting where its capture started); it is copied, never written.
    ``stamp_dir``: where ``[external] setup_command`` keeps the stamp that lets a later run
    skip it (None: it runs every time)."""
    from harness.proc.reaper import REAPER

    tmp = REAPER.temporary(f"parity-{run_dir.name}-", directory=True)
    external = legacy_url is not None or candidate_url is not None
    pair = Pair(config, "external" if external else "managed", run_dir, tmp, Timings())
    pair.restart_jobs = profile.restart_jobs
    try:
        if external:
            if not (legacy_url and candidate_url):
                raise HarnessError(
                    "external mode needs both --legacy-url and --candidate-url", kind="input"
                )
            pair.targets = {
                "legacy": Target("legacy", legacy_url.rstrip("/")),
                "candidate": Target("candidate", candidate_url.rstrip("/")),
            }
            ext = config.external
            if ext.setup_command is not None:
                run_setup_command(
                    ext,
                    config.resolve(ext.cwd),
                    stamp_dir,
                    (legacy_url, candidate_url),
                    message,
                )
            if ext.reset_command is not None:
                message("resetting both services before the first scenario")
                pair.reset_external()
        else:
            _start_managed(pair, profile, message, snapshot_file, base_path.rstrip("/"))
        base = base_path.rstrip("/")
        if base:  # the contract's paths are relative to its servers' path
            for target in pair.targets.values():
                if not target.base_url.endswith(base):
                    target.base_url += base
        pair.transport = _transport(pair)
        started = time.perf_counter()
        login(config, pair.transport, pair.targets, pair)
        if logout is not None:
            log_out_a_session(pair, logout)
        pair.timings.login = time.perf_counter() - started
        if not external:
            for key, service in pair.services.items():
                watcher = open_watcher(service.database, tmp / f"{key}.baseline.db")
                watcher.open()
                pair.watchers[key] = watcher
        else:
            _watch_external(pair, message)
        yield pair
    finally:
        pair.close()
        shutil.rmtree(tmp, ignore_errors=True)
        REAPER.forget(path=tmp)


def check_tokens(pair: Pair, reads: list[str]) -> None:
    """Each role's token tried on a few reads (``"GET /path"`` operations without path
    parameters) on each side before anything else is sent: a side that answers every one
    with 401 refuses the token, and no request of that role can be authenticated, so the run
    stops (exit 2) saying what to fix, instead of a report full of 401s both sides agree on.
    A fixed token is expired or invalid. A token the role just got from its login is sent
    the wrong way (its scheme: ``[auth.roles.<name>]`` header, prefix, token_in over
    ``[auth]``'s) only when the side treats it as no token at all (each 401 as the anonymous
    request's) and another role's token gets past 401 on one of those reads: a role that is
    merely not allowed there (some services say 401 for that) is no error."""
    auth = pair.config.auth
    if auth is None or not reads:
        return
    sides = [k for k in SIDES if k in pair.targets]

    def send(key: str, op_id: str, role: str | None) -> Response:
        method, _, path = op_id.partition(" ")
        req = build_request(
            operation=op_id,
            method=method,
            path=path,
            query=(),
            headers=(("accept", "*/*"),),
            role=role,
            mode="login",
        )
        return pair.send_one(key, req)

    tried = reads[:3]
    roles = [r for r in auth.roles if any(r in pair.targets[k].tokens for k in sides)]
    for key in sides:
        answers = {role: [send(key, op, role) for op in tried] for role in roles}
        anonymous: list[tuple[Response, Response]] | None = None
        for role, got in answers.items():
            if not all(a.status == 401 for a in got):
                continue
            answered = ", ".join(tried) + " answer 401"
            if role in pair.fixed:
                raise HarnessError(
                    f"role {role}'s fixed token ({pair.fixed[role]}) is refused by the {key}: "
                    + answered
                    + " (expired or invalid; a fixed token is never renewed): set a fresh one",
                    kind="auth",
                )
            others = [r for r in roles if r != role]
            if not any(a.status != 401 for r in others for a in answers[r]):
                continue  # no role gets past 401 there: nothing tells a wrong scheme apart
            if anonymous is None:  # twice: what varies between two (a request id) is noise
                anonymous = [(send(key, op, None), send(key, op, None)) for op in tried]
            if not all(
                a.status == b.status and _alike(a.body, b.body, c.body)
                for a, (b, c) in zip(got, anonymous, strict=True)
            ):
                continue  # refused otherwise than as anonymous: not allowed, not unknown
            scheme = auth.for_role(role)
            raise HarnessError(
                f"role {role} logged in on the {key} ({scheme.login}), but its token, sent as "
                f"{scheme.where()}, is refused as if none were sent: {answered}, as they do "
                f"without a token, while other roles get past them; fix how the token is sent "
                f"([auth.roles.{role}] or [auth]: header, prefix, token_in, name, token_path)",
                kind="auth",
            )


def _alike(value: Any, anonymous: Any, again: Any) -> bool:
    """``value`` equals the anonymous answer wherever two anonymous answers agree."""
    if (
        anonymous != again
        and type(anonymous) is type(again)
        and not isinstance(anonymous, dict | list)
    ):
        return True  # a place that varies by itself (a request id, a time)
    if isinstance(anonymous, dict) and isinstance(value, dict) and isinstance(again, dict):
        return value.keys() == anonymous.keys() and all(
            _alike(value[k], anonymous[k], again.get(k)) for k in anonymous
        )
    if isinstance(anonymous, list) and isinstance(value, list) and isinstance(again, list):
        return len(value) == len(anonymous) == len(again) and all(
            _alike(v, a, b) for v, a, b in zip(value, anonymous, again, strict=True)
        )
    return bool(value == anonymous)


def log_out_a_session(pair: Pair, logout: str) -> None:
    """A fresh session of the first role, logged out again through ``logout`` on both
    sides, before the baseline is taken: its tokens (``<role>#logged-out``) were valid and
    are not any more, whatever a restore does later."""
    auth = pair.config.auth
    assert pair.transport is not None
    if auth is None or not auth.roles:
        return
    role = next((r for r in auth.roles if r not in pair.fixed), None)
    if role is None:  # logging a fixed token out would end it for the rest of the run
        pair.logged_out_note = (
            "the logged-out-token probe was not sent: every role has a fixed token"
        )
        return
    key = f"{role}#logged-out"
    sides = {k: t for k, t in pair.targets.items() if k in SIDES}
    login(pair.config, pair.transport, sides, pair, roles=[role], as_key=lambda _r: key)
    method, _, path = logout.partition(" ")
    req = build_request(
        operation=logout,
        method=method.upper(),
        path=path,
        query=(),
        headers=(("accept", "*/*"),),
        role=key,
        mode="login",
    )
    answers = {k: pair.send_one(k, req).status for k in sides}
    if all(200 <= status < 300 for status in answers.values()):
        pair.logged_out = key
        return
    for target in sides.values():
        target.tokens.pop(key, None)
    pair.logged_out_note = (
        f"the logged-out-token probe was not sent: {logout} answered "
        + ", ".join(f"{k} {v}" for k, v in answers.items())
    )


def _watch_external(pair: Pair, message: Callable[[str], None]) -> None:
    """URL mode with ``[external] databases``: each side's database watched from here on
    (the baseline is the state after the reset command and the logins). A SQLite pair
    gets a snapshot for interop: the legacy's baseline copy."""
    databases = pair.config.external_databases()
    if not databases:
        return
    message("watching both services' databases")
    for key in SIDES:
        database = databases[key]
        engine = engine_of(database)
        if engine == "sqlite" and not Path(database).is_file():
            raise HarnessError(
                f"{pair.config.source}: [external] databases.{key}: no SQLite file at {database}",
                kind="config",
            )
        watcher = open_watcher(database, pair.tmp / f"{key}.baseline.db", leave_clean=True)
        pair.watchers[key] = watcher  # closed with the pair, even if open() fails midway
        watcher.open()
        pair.engines[key] = engine
    legacy = pair.watchers["legacy"]
    if not pair.cross_engine and isinstance(legacy, DbWatcher):
        pair.snapshot = legacy.baseline


def auth_placement(config: ParityConfig) -> dict[str, Any]:
    """The transport's arguments for where a role's credentials go: each role's effective
    scheme (``[auth]`` with its ``[auth.roles.<name>]`` overrides: ``AuthConfig.for_role``)."""
    auth = config.auth
    if auth is None:
        return {}
    return {"schemes": auth.for_role, "signer": Signer(auth.signing) if auth.signing else None}


def _copy_sqlite(source: Path, target: Path) -> Path:
    """A consistent copy of a user's SQLite file (its WAL included) through the backup API,
    opened read-only: the file itself is never written."""
    import sqlite3

    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(target)
            try:
                src.backup(dst)
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise HarnessError(f"cannot copy the snapshot {source}: {exc}", kind="input") from exc
    return target


def _transport(pair: Pair) -> Transport:
    return Transport(
        pair.targets["legacy"],
        pair.targets["candidate"],
        extra=tuple(t for k, t in pair.targets.items() if k not in SIDES),
        timeout_s=pair.config.compare.timeout_s,
        retries=pair.retries,
        **auth_placement(pair.config),
    )


def _databases(
    pair: Pair, profile: Profile, snapshot: Path, message: Callable[[str], None]
) -> dict[str, Path | str]:
    """Each side's own copy of the snapshot: a SQLite file, or a PostgreSQL database cloned
    from a template the service's ``database_load`` command filled from the snapshot."""
    out: dict[str, Path | str] = {}
    postgres = [k for k in SIDES if profile.databases.get(k, "sqlite") == "postgresql"]
    for key in SIDES:
        pair.engines[key] = "postgresql" if key in postgres else "sqlite"
        if key not in postgres:
            out[key] = copy_snapshot(snapshot, pair.tmp / f"{key}.db")
    if not postgres:
        return out
    from harness.db.postgres import drop_database, prepare_targets

    url_for, owned = _postgres_server(pair, message)
    prefix = "parity" if owned else f"parity_{secrets.token_hex(3)}"
    for key in postgres:
        load = pair.config.services[key].database_load
        cwd = pair.config.resolve(pair.config.services[key].cwd)

        def run_load(snap: Path, url: str, load: Command | None = load, cwd: Path = cwd) -> None:
            load_database(load, cwd, snap, url)

        message(f"loading the snapshot into PostgreSQL for {key}")
        template = url_for(f"{prefix}_{key}")
        if not owned:  # a server parity does not own: the run's databases go at the end,
            # registered first so that a failed load leaves nothing either
            for url in (template, url_for(f"{prefix}_{key}_{key}")):
                pair.stack.callback(drop_database, url)
        urls = prepare_targets(template, snapshot, [key], run_load)
        out[key] = urls[key]
        pair.templates[key] = template
    return out


def load_database(load: Command | None, cwd: Path, snapshot: Path, url: str) -> None:
    """Fill the empty PostgreSQL database ``url`` from ``snapshot`` with a service's
    ``database_load`` command (the pair's own loader: the tool never imports it), or with
    the snapshot's own schema translated (``harness.db.load``) when it names none."""
    if load is None:
        from harness.db.load import load as default_load

        try:
            default_load(snapshot, url)
        except Exception as exc:
            raise HarnessError(
                f"loading the snapshot into PostgreSQL failed: {exc}", kind="database"
            ) from exc
        return
    # the pair's own loader gets the plain URL its driver accepts, like the services
    values = {"snapshot": str(snapshot), "database": psycopg_dsn(url), "python": sys.executable}
    argv = render_command(load, values)
    done = subprocess.run(argv, cwd=cwd, capture_output=True, timeout=300, check=False)
    if done.returncode != 0:
        raise HarnessError(
            f"database_load failed ({shlex.join(argv)}): "
            f"{done.stderr.decode(errors='replace')[-800:]}",
            kind="database",
        )


def _postgres_server(
    pair: Pair, message: Callable[[str], None]
) -> tuple[Callable[[str], str], bool]:
    """(``name -> database URL``, whether parity owns the server) for the server the run's
    PostgreSQL targets live on: the one ``PARITY_POSTGRES_URL`` names (a superuser URL; the
    run's databases get a random prefix and are dropped at the end), else a private server
    started for the run."""
    given = os.environ.get(POSTGRES_URL_VARIABLE)
    if given:
        from sqlalchemy.engine import make_url

        message(f"using the PostgreSQL server in ${POSTGRES_URL_VARIABLE}")
        base = make_url(given)

        def on_given(name: str) -> str:
            return base.set(database=name).render_as_string(hide_password=False)

        return on_given, False
    from harness.pair.pgserver import pg_server

    message("starting a private PostgreSQL server")
    server = pair.stack.enter_context(pg_server(keep_log=pair.run_dir / "postgres.log"))
    return server.url, True


def _after_start(pair: Pair, snapshot: Path, base_path: str) -> Path:
    """``[[snapshot.after_start]]``: the legacy started on a copy of the seeded snapshot, each
    step run on it in order (a command, or a contract request as a role, logged in as the
    run logs in), the legacy stopped; its database, copied whole (WAL included), is the
    snapshot both sides start from. A failing step is a harness error naming it."""
    cfg = pair.config
    assert cfg.snapshot is not None
    work = copy_snapshot(snapshot, pair.tmp / "after_start.db")
    service = ManagedService(
        target="legacy",
        config=cfg.services["legacy"],
        base_dir=cfg.base_dir,
        database=work,
        log_path=pair.run_dir / "after_start.log",
    )
    spans = len(pair.login_spans)
    try:
        service.start()
        service.wait_healthy()
        target = Target("legacy", service.base_url + base_path)
        transport = Transport(
            target, target, timeout_s=cfg.compare.timeout_s, **auth_placement(cfg)
        )
        try:
            roles = sorted({s.role for s in cfg.snapshot.after_start if s.role is not None})
            unknown = [r for r in roles if cfg.auth is None or r not in cfg.auth.roles]
            if unknown:
                raise HarnessError(
                    f"{cfg.source}: [[snapshot.after_start]] role {unknown[0]!r} is not an "
                    "[auth.roles] role",
                    kind="config",
                )
            if roles:
                login(cfg, transport, {"legacy": target}, pair, roles=roles)
            for n, step in enumerate(cfg.snapshot.after_start, 1):
                where = f"[[snapshot.after_start]] #{n}"
                if step.command is not None:
                    _after_start_command(cfg, step.command, step.cwd, service, target, work, where)
                    continue
                assert step.method is not None
                assert step.path is not None
                method = step.method.upper()
                req = build_request(
                    operation=f"{method} {step.path}",
                    method=method,
                    path=step.path,
                    query=(),
                    headers=(("accept", "*/*"),),
                    role=step.role,
                    mode="login",
                    **({} if step.body is None else {"json_body": step.body}),
                )
                try:
                    resp = transport.send_one("legacy", req)
                except TargetUnreachable as exc:
                    raise HarnessError(f"{where}: the legacy stopped answering: {exc}") from exc
                if not 200 <= resp.status < 300:
                    raise HarnessError(
                        f"{where}: {method} {step.path} as {step.role or 'anonymous'} "
                        f"answered {resp.status} {resp.text[:200]!r}",
                        kind="config",
                    )
        finally:
            transport.close()
    finally:
        service.stop()
        del pair.login_spans[spans:]  # the hook's logins are in the snapshot, not the run
    return _copy_sqlite(work, pair.tmp / "snapshot.after_start.db")


def _after_start_command(
    cfg: ParityConfig,
    command: Command,
    cwd: str | None,
    service: ManagedService,
    target: Target,
    database: Path,
    where: str,
) -> None:
    assert cfg.snapshot is not None
    values = {
        "python": sys.executable,
        "url": target.base_url,
        "port": str(service.port),
        "database": str(database),
    }
    argv = render_command(command, values)
    env = {**os.environ, **cfg.snapshot.env}
    for key, value in env.items():
        for name, filled in values.items():
            value = value.replace("{" + name + "}", filled)
        env[key] = value
    try:
        proc = subprocess.run(
            argv,
            cwd=cfg.resolve(cwd or cfg.snapshot.cwd),
            env=env,
            capture_output=True,
            timeout=cfg.snapshot.timeout_s,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"{where}: {shlex.join(argv)}: {exc}", kind="config") from exc
    if proc.returncode != 0:
        raise HarnessError(
            f"{where}: {shlex.join(argv)} exited with {proc.returncode}",
            kind="config",
            log_tail=(proc.stdout + proc.stderr).decode("utf-8", "replace")[-2000:],
        )


def _start_managed(
    pair: Pair,
    profile: Profile,
    message: Callable[[str], None],
    snapshot_file: Path | None = None,
    base_path: str = "",
) -> None:
    cfg = pair.config
    for key in SIDES:
        if key not in cfg.services:
            raise HarnessError(
                f"{cfg.source}: [services.{key}] is required in managed mode "
                "(or pass --legacy-url and --candidate-url)",
                kind="config",
            )
    started = time.perf_counter()
    if snapshot_file is not None:
        message(f"copying the snapshot {snapshot_file}")
        snapshot = _copy_sqlite(snapshot_file, pair.tmp / "snapshot.db")
    else:
        if cfg.snapshot is None:
            raise HarnessError(
                f"{cfg.source}: [snapshot] is required in managed mode", kind="config"
            )
        message("building the seeded snapshot")
        snapshot = build_snapshot(
            cfg.snapshot, cfg.base_dir, pair.tmp / "snapshot.db", pair.run_dir / "snapshot.log"
        )
        if cfg.snapshot.after_start:
            message("running [[snapshot.after_start]] on the legacy")
            snapshot = _after_start(pair, snapshot, base_path)
    pair.snapshot = snapshot
    databases = _databases(pair, profile, snapshot, message)
    for key in SIDES:
        pair.start_service(key, cfg.services[key], databases[key])
    if profile.noise == "calibrate":
        twin_db = copy_snapshot(snapshot, pair.tmp / "legacy_aa.db")
        pair.start_service("legacy_aa", cfg.services["legacy"], twin_db)
    message("waiting for the services to be healthy")
    for service in pair.services.values():
        service.wait_healthy()
    pair.targets = {key: Target(key, s.base_url) for key, s in pair.services.items()}
    pair.timings.startup = time.perf_counter() - started
