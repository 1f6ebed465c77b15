"""The run loop: services up, cases generated, each replayed on both targets, findings out.

Only this module wires the stages together. It reports progress through a ``Listener``
(the console reporter is one) and returns the results document (docs/results-schema.md).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import json
import multiprocessing as mp
import pickle
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from harness.comparison import compare_exchange
from harness.config import AcceptRule, ParityConfig, Profile
from harness.contract import Contract, Operation, match_operation
from harness.dbdiff import DbWatcher
from harness.errors import HarnessError, ServiceError
from harness.files import text_reductions
from harness.generation import (
    GenerationStats,
    build_request,
    generate_cases,
    multipart_request,
    rebuild,
)
from harness.models import (
    NOT_SET,
    Difference,
    ExchangeResult,
    PreparedRequest,
    Response,
    Writes,
)
from harness.normalization import JsonText, RuleSet
from harness.services import ManagedService, build_snapshot, copy_snapshot, run_reset_command
from harness.transport import Target, TargetUnreachable, Transport, curl_line

__all__ = ["Engine", "Listener", "NullListener", "RunOptions", "new_run_id"]

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
SCHEMA_VERSION = 1


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class RunOptions:
    contract_path: Path
    config_path: Path
    profile: str | None = None
    seed: int | None = None
    operations: list[str] = field(default_factory=list)
    report_dir: Path = Path("reports")
    legacy_url: str | None = None
    candidate_url: str | None = None

    @property
    def external(self) -> bool:
        return self.legacy_url is not None or self.candidate_url is not None


class Listener(Protocol):
    def run_started(self, info: dict[str, Any]) -> None: ...
    def message(self, text: str) -> None: ...
    def operation_started(self, op_id: str, total: int) -> None: ...
    def case_done(self, op_id: str, agreed: bool) -> None: ...
    def operation_finished(self, summary: dict[str, Any]) -> None: ...
    def run_finished(self, results: dict[str, Any]) -> None: ...


class NullListener:
    def run_started(self, info: dict[str, Any]) -> None:
        pass

    def message(self, text: str) -> None:
        pass

    def operation_started(self, op_id: str, total: int) -> None:
        pass

    def case_done(self, op_id: str, agreed: bool) -> None:
        pass

    def operation_finished(self, summary: dict[str, Any]) -> None:
        pass

    def run_finished(self, results: dict[str, Any]) -> None:
        pass


@dataclass
class Group:
    """One finding: every case showing the same (operation, location, kind)."""

    operation: str
    location: str
    kind: str
    count: int
    example: ExchangeResult
    difference: Difference
    accepted_by: AcceptRule | None = None
    phase: str = "stateless"
    steps: list[ExchangeResult] | None = None  # stateful: the whole (shrunk) sequence

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.operation, self.location, self.kind)


@dataclass
class OpStats:
    op: Operation
    cases: int = 0
    agreeing: int = 0
    statuses: dict[str, Counter[str]] = field(
        default_factory=lambda: {"legacy": Counter(), "candidate": Counter()}
    )
    latency: dict[str, list[float]] = field(default_factory=lambda: {"legacy": [], "candidate": []})


@dataclass
class Timings:
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

    def to_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.__dict__.items()}


class Engine:
    def __init__(
        self,
        contract: Contract,
        config: ParityConfig,
        options: RunOptions,
        listener: Listener | None = None,
    ) -> None:
        self.contract = contract
        self.config = config
        self.options = options
        self.listener: Listener = listener or NullListener()
        self.profile_name = options.profile or (
            "dev" if "dev" in config.profiles else next(iter(config.profiles), "default")
        )
        self.profile: Profile = config.profile(self.profile_name)
        self.seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        self.run_id = new_run_id()
        self.run_dir = options.report_dir / self.run_id
        self.mode = "external" if options.external else "managed"
        self.services: dict[str, ManagedService] = {}
        self.watchers: dict[str, DbWatcher] = {}
        self.transport: Transport | None = None
        self.targets: dict[str, Target] = {}
        self.groups: dict[tuple[str, str, str], Group] = {}
        self.op_stats: dict[str, OpStats] = {}
        self.errors: list[dict[str, Any]] = []
        self.messages: list[str] = []
        self.messages_info: list[str] = []
        self.timings = Timings()
        self.gen_stats = GenerationStats()
        self.interrupted = False
        self.invariant_defs: list[Any] = []
        self.invariant_results: list[dict[str, Any]] = []
        self._rules: dict[str, RuleSet] = {}
        self._tmp: Path | None = None
        self.started_at = _now()
        self._t0 = time.monotonic()
        self.selected: list[Operation] = []
        self.exchanges = 0
        self.on_exchange: Callable[[ExchangeResult], None] | None = None
        self.pipeline_depth = 2  # operations generated ahead of the one being replayed
        self.cache_hits = 0
        self.stateful_groups: dict[tuple[str, str, str], Group] = {}
        self.noise_stats: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.interop_groups: dict[tuple[str, str, str], Group] = {}
        self.interop_stats = {"writes": 0, "reads": 0, "failing": 0}
        self._snapshot: Path | None = None
        self.stateful_stats = {"sequences": 0, "steps": 0, "failing": 0, "broken": 0}
        self._pools: dict[str, list[PreparedRequest]] = {}
        self.invariant_checks: Counter[str] = Counter()  # steps each invariant was checked on
        self._db_pool: ThreadPoolExecutor | None = None  # per-target database work, in parallel

    # -- lifecycle ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Run everything; never raises HarnessError or KeyboardInterrupt: both become results."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
            self.selected = self.contract.select(self.options.operations, self.config.exclude)
            self.listener.run_started(self._info())
            with self._environment():
                self._login_all()
                self._open_watchers()
                self._load_invariants()
                if self.profile.stateless:
                    if self.profile.probes:
                        # a few requests per path: framework drift shows before the long phase
                        self._run_probes()
                    for op, cases in self.pipelined_cases():
                        self._run_operation(op, cases)
                    self._shrink_all()
                self._apply_saved_noise()
                self._run_stateful()
                self._run_interop()
                self._save_noise()
        except HarnessError as exc:
            self.errors.append(exc.to_dict())
        except KeyboardInterrupt:
            self.interrupted = True
            self.errors.append(
                {"kind": "interrupted", "message": "interrupted (Ctrl-C)", "log_tail": None}
            )
        results = self.results()
        self.listener.run_finished(results)
        return results

    @contextlib.contextmanager
    def _environment(self) -> Iterator[None]:
        self._tmp = Path(tempfile.mkdtemp(prefix=f"parity-{self.run_id}-"))
        try:
            if self.mode == "managed":
                self._start_services()
            else:
                self._external_targets()
            assert self.transport is not None or not self.targets
            yield
        finally:
            if self.transport is not None:
                self.transport.close()
            if self._db_pool is not None:
                self._db_pool.shutdown(wait=True)
                self._db_pool = None
            for watcher in self.watchers.values():
                watcher.close()
            for service in self.services.values():
                service.stop()
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _make_transport(self) -> None:
        auth = self.config.auth
        self.transport = Transport(
            self.targets["legacy"],
            self.targets["candidate"],
            extra=tuple(t for k, t in self.targets.items() if k not in ("legacy", "candidate")),
            timeout_s=self.config.compare.timeout_s,
            auth_header=auth.header if auth else "Authorization",
            auth_prefix=auth.prefix if auth else "Bearer ",
        )

    def _external_targets(self) -> None:
        if not (self.options.legacy_url and self.options.candidate_url):
            raise HarnessError(
                "external mode needs both --legacy-url and --candidate-url", kind="input"
            )
        for key, url in (
            ("legacy", self.options.legacy_url),
            ("candidate", self.options.candidate_url),
        ):
            self.targets[key] = Target(key, url.rstrip("/"))
        self._make_transport()

    def _start_services(self) -> None:
        assert self._tmp is not None
        cfg = self.config
        for key in ("legacy", "candidate"):
            if key not in cfg.services:
                raise HarnessError(
                    f"{cfg.source}: [services.{key}] is required in managed mode "
                    "(or pass --legacy-url and --candidate-url)",
                    kind="config",
                )
        if cfg.snapshot is None:
            raise HarnessError(
                f"{cfg.source}: [snapshot] is required in managed mode", kind="config"
            )
        started = time.perf_counter()
        self.listener.message("building the seeded snapshot")
        snapshot = build_snapshot(
            cfg.snapshot, cfg.base_dir, self._tmp / "snapshot.db", self.run_dir / "snapshot.log"
        )
        for key in ("legacy", "candidate"):
            db = copy_snapshot(snapshot, self._tmp / f"{key}.db")
            service = ManagedService(
                target=key,
                config=cfg.services[key],
                base_dir=cfg.base_dir,
                database=db,
                log_path=self.run_dir / f"{key}.log",
            )
            self.services[key] = service
            service.start()
        if self.profile.noise == "calibrate":
            self._add_service("legacy_aa", cfg.services["legacy"], snapshot)
        self._snapshot = snapshot
        self.listener.message("waiting for the services to be healthy")
        for service in self.services.values():
            service.wait_healthy()
        for key, service in self.services.items():
            self.targets[key] = Target(key, service.base_url)
        self._make_transport()
        self.timings.startup = time.perf_counter() - started

    def _add_service(self, key: str, config: Any, snapshot: Path, db: Path | None = None) -> None:
        assert self._tmp is not None
        database = db or copy_snapshot(snapshot, self._tmp / f"{key}.db")
        service = ManagedService(
            target=key,
            config=config,
            base_dir=self.config.base_dir,
            database=database,
            log_path=self.run_dir / f"{key}.log",
        )
        self.services[key] = service
        service.start()

    def _login_all(self) -> None:
        assert self.transport is not None
        started = time.perf_counter()
        self._login(self.transport, self.targets)
        self.timings.login = time.perf_counter() - started

    def _login(self, transport: Transport, targets: dict[str, Target]) -> None:
        auth = self.config.auth
        if auth is None or not auth.roles:
            return
        method, _, path = auth.login.partition(" ")
        for role, role_cfg in auth.roles.items():
            req = build_request(
                operation=auth.login,
                method=method.upper(),
                path=path,
                query=(),
                headers=(("Content-Type", "application/json"),),
                role=None,
                mode="login",
                json_body=role_cfg.body,
            )
            for key, target in targets.items():
                try:
                    resp = transport.send_one(key, req)
                except TargetUnreachable as exc:
                    raise self._unreachable(exc) from exc
                token = _extract(resp.body, auth.token_path)
                if not (200 <= resp.status < 300) or not isinstance(token, str):
                    raise HarnessError(
                        f"login as {role!r} on {key} failed: {auth.login} -> {resp.status} "
                        f"{resp.text[:200]!r} (token path {auth.token_path})",
                        kind="auth",
                    )
                target.tokens[role] = token

    def _open_watchers(self) -> None:
        if self.mode != "managed":
            return
        assert self._tmp is not None
        for key, service in self.services.items():
            watcher = DbWatcher(service.database, self._tmp / f"{key}.baseline.db")
            watcher.open()
            self.watchers[key] = watcher

    def _each_target(self, keys: list[str], work: Callable[[str], _T]) -> dict[str, _T]:
        """``work(key)`` for every target at once: each target's database is its own file and
        connection, and sqlite3 releases the GIL, so diffs, invariants and restores of the
        two sides overlap instead of queueing."""
        if len(keys) < 2:
            return {k: work(k) for k in keys}
        if self._db_pool is None:
            self._db_pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="parity-db")
        futures = {k: self._db_pool.submit(work, k) for k in keys}
        return {k: f.result() for k, f in futures.items()}

    def _load_invariants(self) -> None:
        if self.mode != "managed" or not self.profile.invariants:
            return
        rel = self.config.invariants.file
        if not rel:
            return
        from harness.invariants import load_invariants

        self.invariant_defs = load_invariants(self.config.resolve(rel))

    # -- one operation ------------------------------------------------------------------------
    def rules(self, op_id: str) -> RuleSet:
        hit = self._rules.get(op_id)
        if hit is None:
            hit = self._rules[op_id] = RuleSet(self.config.normalize, op_id)
        return hit

    def generate(self, op: Operation) -> list[PreparedRequest]:
        auth = self.config.auth
        started = time.perf_counter()
        cases = generate_cases(
            op,
            run_seed=self.seed,
            positive=self.profile.positive,
            negative=self.profile.negative,
            roles=self.config.role_names(self.profile),
            strip_headers=auth.strip_headers if auth else ["authorization"],
            strip_cookies=auth.strip_cookies if auth else True,
            stats=self.gen_stats,
        )
        self.timings.generation += time.perf_counter() - started
        return cases

    def pipelined_cases(self) -> Iterator[tuple[Operation, list[PreparedRequest]]]:
        """Generate cases in a worker process while earlier operations are replayed.

        Hypothesis is CPU-bound; in a thread it would take the GIL from the sender. The
        worker (forked, so it shares the loaded contract) handles operations in their fixed
        order, so the cases and their order do not depend on timing: ``--seed`` reproduces.
        """
        cached = {i: self._cache_load(op) for i, op in enumerate(self.selected)}
        missing = [i for i, hit in cached.items() if hit is None]
        if not missing or self.pipeline_depth <= 0 or "fork" not in mp.get_all_start_methods():
            for i, op in enumerate(self.selected):
                hit = cached[i]
                if hit is None:
                    hit = self.generate(op)
                    self._cache_save(op, hit)
                yield op, hit
            return
        global _GEN_ENGINE
        _GEN_ENGINE = self
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=mp.get_context("fork"), initializer=_worker_signals
        )
        try:
            futures = {i: pool.submit(_generate_in_worker, i) for i in missing}
            for i, op in enumerate(self.selected):
                hit = cached[i]
                if hit is None:
                    hit, drawn, dups, bad, errors, elapsed = futures[i].result()
                    self.gen_stats.drawn += drawn
                    self.gen_stats.duplicates += dups
                    self.gen_stats.unencodable += bad
                    self.gen_stats.errors.extend(errors)
                    self.timings.generation += elapsed
                    self._cache_save(op, hit)
                yield op, hit
        finally:
            workers = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
                worker.join(timeout=5)
            _GEN_ENGINE = None

    def _cache_path(self, op: Operation) -> Path | None:
        """Generated cases are a pure function of these inputs: reuse them across runs."""
        if not self.profile.cache:
            return None
        auth = self.config.auth
        env = _environment()
        key = json.dumps(
            [
                hashlib.sha256(self.contract.path.read_bytes()).hexdigest(),
                op.id,
                self.seed,
                self.profile.positive,
                self.profile.negative,
                self.config.role_names(self.profile),
                auth.strip_headers if auth else None,
                auth.strip_cookies if auth else None,
                env["schemathesis"],
                env["hypothesis"],
                _GENERATION_SOURCE,
            ],
            default=str,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        return self.options.report_dir / ".cache" / "cases" / f"{digest}.pickle"

    def _cache_load(self, op: Operation) -> list[PreparedRequest] | None:
        path = self._cache_path(op)
        if path is None or not path.is_file():
            return None
        try:
            with path.open("rb") as fh:
                data = pickle.load(fh)
        except Exception:
            return None
        if not isinstance(data, list):
            return None
        self.cache_hits += 1
        return data

    def _cache_save(self, op: Operation, cases: list[PreparedRequest]) -> None:
        path = self._cache_path(op)
        if path is None:
            return
        with contextlib.suppress(OSError, pickle.PicklingError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            with tmp.open("wb") as fh:
                pickle.dump(cases, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(path)

    def _run_probes(self) -> None:
        """Once per path: the methods the contract does not declare, and a trailing slash.

        Framework behaviour (405 against 404, redirects on ``/x/``) is part of what the port
        must copy, but a contract never lists it, so generated cases never reach it.
        """
        roles = [r for r in self.config.role_names(self.profile) if r is not None]
        role = roles[0] if roles else None
        by_path: dict[str, list[Operation]] = {}
        for op in self.selected:
            by_path.setdefault(op.path, []).append(op)
        probes: list[tuple[str, PreparedRequest]] = []
        for path, ops in by_path.items():
            sample = next((c for op in ops for c in self._pool(op.id)[:1]), None)
            if sample is None:
                continue
            declared = {op.method for op in ops}
            for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
                if method in declared:
                    continue
                req = build_request(
                    operation=f"{method} {path}",
                    method=method,
                    path=sample.path,
                    query=(),
                    headers=(("accept", "*/*"),),
                    role=role,
                    mode="probe",
                )
                probes.append((f"{method} {path} (undeclared)", req))
            for op in ops:
                base = next(iter(self._pool(op.id)[:1]), None)
                if base is None:
                    continue
                slashed = replace(
                    base, path=base.path + "/", role=role, mode="probe", operation=f"{op.id}/"
                )
                probes.append((f"{op.id}/ (trailing slash)", slashed))
        if not probes:
            return
        self.listener.operation_started("probes (methods, trailing slash)", len(probes))
        stats = self.op_stats.setdefault("probes", OpStats(_PROBE_OP))
        for _label, req in probes:
            result = self.exchange(req)
            stats.cases += 1
            for key, resp in (("legacy", result.legacy), ("candidate", result.candidate)):
                stats.statuses[key][str(resp.status)] += 1
                stats.latency[key].append(resp.elapsed_ms)
            live = [d for d in result.differences if not self._accepted(req.operation, d)]
            if not live:
                stats.agreeing += 1
            self._record(result)
            self.listener.case_done("probes (methods, trailing slash)", not live)

    def _pool(self, op_id: str) -> list[PreparedRequest]:
        hit = self._pools.get(op_id)
        if hit is None:
            auth = self.config.auth
            started = time.perf_counter()
            hit = generate_cases(
                self.contract.get(op_id),
                run_seed=self.seed ^ 0x5EED,
                positive=self.profile.pool,
                negative=0,
                roles=[None],
                strip_headers=auth.strip_headers if auth else ["authorization"],
                strip_cookies=auth.strip_cookies if auth else True,
                stats=self.gen_stats,
            )
            self.timings.generation += time.perf_counter() - started
            self._pools[op_id] = hit
        return hit

    def _run_stateful(self) -> None:
        from harness.stateful import StatefulRunner

        count = self.profile.stateful_sequences
        if count <= 0:
            return
        runner = StatefulRunner(
            self.contract,
            {op.id for op in self.selected},
            self._pool,
            lambda lreq, creq: self.exchange(lreq, creq, restore=False),
            self.restore_all,
            lambda result: any(
                not self._accepted(result.request.operation, d) for d in result.differences
            ),
            self.seed,
            self.profile.max_steps,
        )
        if not runner.starts:
            self.messages_info.append("stateful: the contract has no followable links")
            return
        roles: list[str | None] = [
            r for r in self.config.role_names(self.profile) if r is not None
        ] or [None]
        started = time.perf_counter()
        self.listener.operation_started("stateful sequences", count)
        for _ in range(count):
            outcome = runner.run_random(runner.rng.choice(roles))
            self.stateful_stats["sequences"] += 1
            self.stateful_stats["steps"] += len(outcome.results)
            self.stateful_stats["broken"] += int(outcome.broken)
            if outcome.failed_at is not None:
                self.stateful_stats["failing"] += 1
                self._record_sequence(runner, outcome)
            self.listener.case_done("stateful sequences", outcome.failed_at is None)
        self.timings.stateful = time.perf_counter() - started

    def _run_interop(self) -> None:
        """Both services on ONE database file: what one writes, the other must read the same.

        For every create operation with links to reads: create through one service, then
        read the linked resource through the writer and through the other service; the two
        reads must agree. Both directions. The database is shared, so sessions are too.
        """
        if not self.profile.interop or self.mode != "managed" or self._snapshot is None:
            return
        from harness.stateful import fill, pointer

        assert self._tmp is not None
        selected = {op.id for op in self.selected}
        method = {op.id: op.method for op in self.contract.operations}
        links = [
            link
            for link in self.contract.links
            if link.parameters
            and link.source in selected
            and link.target in selected
            and method.get(link.target) == "GET"
        ]
        if not links:
            self.messages_info.append("interop: no create operation links to a read")
            return
        started = time.perf_counter()
        shared = copy_snapshot(self._snapshot, self._tmp / "shared.db")
        keys = {"legacy": "interop_legacy", "candidate": "interop_candidate"}
        for side, key in keys.items():
            self._add_service(key, self.config.services[side], self._snapshot, db=shared)
        for key in keys.values():
            self.services[key].wait_healthy()
        targets = {side: Target(side, self.services[key].base_url) for side, key in keys.items()}
        auth = self.config.auth
        transport = Transport(
            targets["legacy"],
            targets["candidate"],
            timeout_s=self.config.compare.timeout_s,
            auth_header=auth.header if auth else "Authorization",
            auth_prefix=auth.prefix if auth else "Bearer ",
        )
        try:
            self._login(transport, targets)
            roles = [r for r in self.config.role_names(self.profile) if r is not None]
            role = roles[0] if roles else None
            sources = sorted({link.source for link in links})
            self.listener.operation_started("interop (shared database)", len(sources))
            for source in sources:
                for base in self._pool(source)[: self.profile.interop_cases]:
                    for writer, reader in (("legacy", "candidate"), ("candidate", "legacy")):
                        self._interop_case(
                            transport,
                            links,
                            source,
                            replace(base, role=role),
                            writer,
                            reader,
                            fill,
                            pointer,
                        )
                self.listener.case_done("interop (shared database)", True)
        except TargetUnreachable as exc:
            raise HarnessError(f"interop: {exc}", kind="service") from exc
        finally:
            transport.close()
            for key in keys.values():
                self.services.pop(key).stop()
            self.timings.interop = time.perf_counter() - started

    def _interop_case(
        self,
        transport: Transport,
        links: list[Any],
        source: str,
        req: PreparedRequest,
        writer: str,
        reader: str,
        fill: Any,
        pointer: Any,
    ) -> None:
        written = transport.send_one(writer, req)
        self.interop_stats["writes"] += 1
        if not 200 <= written.status < 300:
            return
        for link in links:
            if link.source != source or link.status != str(written.status):
                continue
            values = {name: pointer(written.body, expr) for name, expr in link.parameters}
            pool = self._pool(link.target)
            if any(v is None for v in values.values()) or not pool:
                continue
            target_path = self.contract.get(link.target).path
            read = fill(replace(pool[0], role=req.role), target_path, values)
            via_writer = transport.send_one(writer, read)
            via_reader = transport.send_one(reader, read)
            self.interop_stats["reads"] += 2
            diffs = [
                d
                for d in compare_exchange(
                    via_writer,
                    via_reader,
                    None,
                    None,
                    self.rules(link.target),
                    self.config.compare,
                )
                if not self._accepted(link.target, d)
            ]
            if not diffs:
                continue
            self.interop_stats["failing"] += 1
            # report as legacy/candidate = the service that answered the read
            by_side = {writer: via_writer, reader: via_reader}
            placeholder = Response(0, (), None, "", 0.0, error=f"written through {writer}")
            write_step = ExchangeResult(
                req,
                written if writer == "legacy" else placeholder,
                written if writer == "candidate" else placeholder,
                None,
                None,
                [],
            )
            flipped = [
                replace(d, legacy=d.candidate, candidate=d.legacy) if writer == "candidate" else d
                for d in diffs
            ]
            read_step = ExchangeResult(
                read,
                by_side["legacy"],
                by_side["candidate"],
                None,
                None,
                [
                    replace(d, summary=f"written via {writer}, read via {reader}: {d.summary}")
                    for d in flipped
                ],
            )
            for d in read_step.differences:
                key = (link.target, d.location, d.kind)
                group = self.interop_groups.get(key)
                if group is None:
                    self.interop_groups[key] = Group(
                        *key,
                        count=1,
                        example=read_step,
                        difference=d,
                        phase="interop",
                        steps=[write_step, read_step],
                    )
                else:
                    group.count += 1

    def _record_sequence(self, runner: Any, outcome: Any) -> None:
        last: ExchangeResult = outcome.results[-1]
        keys = [
            (last.request.operation, d.location, d.kind)
            for d in last.differences
            if not self._accepted(last.request.operation, d)
        ]
        fresh = [k for k in dict.fromkeys(keys) if k not in self.stateful_groups]
        for key in dict.fromkeys(keys):
            if key in self.stateful_groups:
                self.stateful_groups[key].count += 1
        if not fresh:
            return
        if self.profile.shrink:
            outcome = runner.shrink(outcome, self.profile.shrink_budget)
            last = outcome.results[-1]
        for key in fresh:
            diff = next(
                (d for d in last.differences if (d.location, d.kind) == key[1:]),
                None,
            )
            if diff is None:
                continue
            self.stateful_groups[key] = Group(
                *key,
                count=1,
                example=last,
                difference=diff,
                phase="stateful",
                steps=list(outcome.results),
            )

    def _run_operation(self, op: Operation, cases: list[PreparedRequest]) -> None:
        stats = self.op_stats.setdefault(op.id, OpStats(op))
        self.listener.operation_started(op.id, len(cases))
        for index, req in enumerate(cases):
            result = self.exchange(req)
            stats.cases += 1
            for key, resp in (("legacy", result.legacy), ("candidate", result.candidate)):
                stats.statuses[key][str(resp.status)] += 1
                stats.latency[key].append(resp.elapsed_ms)
            live = [d for d in result.differences if not self._accepted(op.id, d)]
            if not live:
                stats.agreeing += 1
            self._record(result)
            self.listener.case_done(op.id, not live)
            if index % 25 == 24:
                self._check_alive()
        self.listener.operation_finished(self._op_summary(stats))

    def _check_alive(self) -> None:
        for service in self.services.values():
            if not service.alive():
                raise service.died_error("died mid-run")

    def _send_one(self, key: str, req: PreparedRequest) -> Any:
        assert self.transport is not None
        try:
            return self.transport.send_one(key, req)
        except TargetUnreachable as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: TargetUnreachable) -> HarnessError:
        service = self.services.get(exc.target)
        if service is not None:
            deadline = time.monotonic() + 1.0
            while service.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not service.alive():
                return service.died_error("died mid-run")
            return ServiceError(
                f"{service.name} ({exc.target}) stopped answering: {exc.detail}",
                log_tail=None,
            )
        return HarnessError(f"{exc.target} is unreachable: {exc.detail}", kind="service")

    def exchange(
        self,
        req: PreparedRequest,
        candidate_req: PreparedRequest | None = None,
        *,
        restore: bool = True,
    ) -> ExchangeResult:
        """Replay one request on both targets; collect writes; restore; compare.

        ``restore=False`` (stateful steps): the databases keep this step's writes and the
        writes reported are everything since the last restore, so a sequence is compared
        as a whole; the invariants that need a step's own writes run only in the
        stateless phase, the others after every stateful step too.
        """
        assert self.transport is not None
        started = time.perf_counter()
        twin = "legacy_aa" in self.targets and restore
        aa = None
        try:
            if twin:
                legacy, candidate, aa = self.transport.send_with("legacy_aa", req, candidate_req)
            else:
                legacy, candidate = self.transport.send_pair(req, candidate_req)
        except TargetUnreachable as exc:
            raise self._unreachable(exc) from exc
        self.exchanges += 1
        self.timings.transport += time.perf_counter() - started
        lw: Writes | None = None
        cw: Writes | None = None
        inv_diffs: list[Difference] = []
        if self.watchers:
            started = time.perf_counter()
            keys = ["legacy", "candidate"] + (["legacy_aa"] if aa is not None else [])

            def collect(key: str) -> tuple[bool, Writes]:
                watcher = self.watchers[key]
                changed = watcher.changed()
                return changed, (watcher.writes() if changed else {})

            seen = self._each_target(keys, collect)
            (lch, lw), (cch, cw) = seen["legacy"], seen["candidate"]
            aw: Writes | None = seen["legacy_aa"][1] if aa is not None else None
            self.timings.dbdiff += time.perf_counter() - started
            if (lch or cch) and self.invariant_defs:
                inv_diffs = self._invariants(
                    req, legacy.status, candidate.status, lw, cw, per_step=restore
                )
            if restore:
                self.restore_all()
        elif self.config.external.reset_command and req.method not in SAFE_METHODS and restore:
            started = time.perf_counter()
            run_reset_command(
                self.config.external.reset_command,
                self.config.resolve(self.config.external.cwd),
                self.config.external.timeout_s,
            )
            self.timings.reset += time.perf_counter() - started
        started = time.perf_counter()
        diffs = compare_exchange(
            legacy, candidate, lw, cw, self.rules(req.operation), self.config.compare
        )
        if aa is not None:
            aa_diffs = compare_exchange(
                legacy,
                aa,
                lw,
                aw if self.watchers else None,
                self.rules(req.operation),
                self.config.compare,
            )
            diffs = self._suppress_noise(req, diffs, aa_diffs)
        self.timings.compare += time.perf_counter() - started
        result = ExchangeResult(
            req, legacy, candidate, lw, cw, diffs + inv_diffs, candidate_request=candidate_req
        )
        if self.on_exchange is not None:
            self.on_exchange(result)
        return result

    def _suppress_noise(
        self, req: PreparedRequest, ab: list[Difference], aa: list[Difference]
    ) -> list[Difference]:
        """Per request: drop an A/B difference only if the same place differed A/A too."""
        noisy = {(d.location, d.kind): d for d in aa}
        kept: list[Difference] = []
        for d in aa:
            entry = self._noise_entry(req.operation, d)
            entry["aa"] += 1
            if not entry["evidence"]:
                entry["evidence"] = d.summary
        for d in ab:
            hit = noisy.get((d.location, d.kind))
            if hit is not None:
                entry = self._noise_entry(req.operation, d)
                entry["ab"] += 1
                entry["suppressed"] += 1
                continue
            if (req.operation, d.location, d.kind) in self.noise_stats:
                self.noise_stats[(req.operation, d.location, d.kind)]["ab"] += 1
            kept.append(d)
        return kept

    def _noise_entry(self, op_id: str, d: Difference) -> dict[str, Any]:
        return self.noise_stats.setdefault(
            (op_id, d.location, d.kind), {"aa": 0, "ab": 0, "suppressed": 0, "evidence": ""}
        )

    def _noise_results(self) -> list[dict[str, Any]]:
        """The ``noise`` section: every place that varied on its own, with its evidence."""
        out: list[dict[str, Any]] = []
        for (op_id, location, kind), e in sorted(self.noise_stats.items()):
            stats = self.op_stats.get(op_id)
            cases = stats.cases if stats else 0
            out.append(
                {
                    "operation": op_id,
                    "location": location,
                    "kind": kind,
                    "cases": cases,
                    "aa_rate": round(e["aa"] / cases, 4) if cases else None,
                    "ab_rate": round(e["ab"] / cases, 4) if cases else None,
                    "suppressed": e["suppressed"],
                    "evidence": e["evidence"],
                    "source": e.get("source", "calibration"),
                }
            )
        return out

    def _apply_saved_noise(self) -> None:
        """``noise = "reuse"``: suppress a whole group only where A/A explains its rate."""
        if self.profile.noise != "reuse":
            return
        path = self.config.resolve(self.config.noise.file)
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            entries = {(e["operation"], e["location"], e["kind"]): e for e in saved["noise"]}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise HarnessError(
                f"{path}: cannot reuse noise calibration: {exc}", kind="config"
            ) from exc
        for key, group in list(self.groups.items()):
            entry = entries.get(key)
            stats = self.op_stats.get(group.operation)
            if entry is None or not stats or not stats.cases or entry.get("aa_rate") is None:
                continue
            ab_rate = group.count / stats.cases
            explained = ab_rate <= entry["aa_rate"] * 1.25 + self.config.noise.margin
            record = self.noise_stats.setdefault(
                key, {"aa": 0, "ab": 0, "suppressed": 0, "evidence": entry.get("evidence", "")}
            )
            record["aa"] = round(entry["aa_rate"] * stats.cases)
            record["ab"] = group.count
            record["source"] = str(path)
            if explained:
                record["suppressed"] = group.count
                del self.groups[key]

    def _save_noise(self) -> None:
        if self.profile.noise != "calibrate" or self.interrupted or self.errors:
            return
        data = {"run_id": self.run_id, "seed": self.seed, "noise": self._noise_results()}
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        (self.run_dir / "noise.json").write_text(text, encoding="utf-8")
        target = self.config.resolve(self.config.noise.file)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")

    def restore_all(self) -> None:
        """Put every target's database back to its baseline, if anything changed it."""
        started = time.perf_counter()
        changed = [k for k, w in self.watchers.items() if w.changed()]
        self._each_target(changed, lambda key: self.watchers[key].restore())
        if not self.watchers and self.config.external.reset_command:
            run_reset_command(
                self.config.external.reset_command,
                self.config.resolve(self.config.external.cwd),
                self.config.external.timeout_s,
            )
        self.timings.reset += time.perf_counter() - started

    def _invariants(
        self,
        req: PreparedRequest,
        lstatus: int,
        cstatus: int,
        lw: Writes,
        cw: Writes,
        *,
        per_step: bool = True,
    ) -> list[Difference]:
        """Both targets' invariants after ``req``. ``per_step=False`` (a stateful step): the
        writes are the whole sequence's so far, so the checks that read a step's own writes
        are skipped and the rest run on the state the sequence has built."""
        from harness.invariants import StepInfo, compare_outcomes, run_invariants

        started = time.perf_counter()
        out: list[Difference] = []
        steps = {
            key: StepInfo(req.method, req.path, status, _plain_writes(writes))
            for key, status, writes in (("legacy", lstatus, lw), ("candidate", cstatus, cw))
        }
        res = self._each_target(
            list(steps),
            lambda key: run_invariants(
                self.invariant_defs,
                self.watchers[key].live,
                step=steps[key] if per_step else None,
                api=self._api_get(key),
                written=set(steps[key].writes),
            ),
        )
        for name in {r.name for side in res.values() for r in side if not r.skipped}:
            self.invariant_checks[name] += 1
        for outcome in compare_outcomes(res["legacy"], res["candidate"]):
            verdict = outcome.verdict
            if verdict in ("candidate", "legacy"):
                broken = outcome.candidate if verdict == "candidate" else outcome.legacy
                self._note_invariant_one(outcome.name, verdict, broken.message)
                out.append(
                    Difference(
                        f"invariant:{outcome.name}",
                        "invariant",
                        outcome.name,
                        outcome.legacy.message or "holds",
                        outcome.candidate.message or "holds",
                        f"{outcome.name} broken on {verdict} only: {broken.message}",
                    )
                )
            elif verdict == "both":
                self._note_invariant_both(req, outcome.name, outcome.legacy.message, lstatus)
        self.timings.invariants += time.perf_counter() - started
        return out

    def _api_get(self, key: str) -> Callable[[str], tuple[int, Any]]:
        """``ctx.api`` for invariants on ``key``: a GET as the ``[invariants] api_role``."""
        role = self.config.invariant_api_role()

        def get(target: str) -> tuple[int, Any]:
            path, _, query = target.partition("?")
            req = PreparedRequest(
                operation=f"GET {path}",
                method="GET",
                path=path,
                query=tuple(urllib.parse.parse_qsl(query, keep_blank_values=True)),
                headers=(("accept", "application/json"),),
                content=None,
                body=NOT_SET,
                media_type=None,
                role=role,
                mode="invariant",
                shrinkable=False,
            )
            assert self.transport is not None
            try:
                resp = self.transport.send_one(key, req)
            except TargetUnreachable as exc:
                raise self._unreachable(exc) from exc
            return resp.status, resp.body

        return get

    def _note_invariant_both(
        self, req: PreparedRequest, name: str, message: str, status: int
    ) -> None:
        """Broken on both sides: a legacy bug the port inherited. Listed, not drift."""
        for item in self.invariant_results:
            if item["name"] == name and item["target"] == "both":
                item["count"] += 1
                return
        self.invariant_results.append(
            {
                "name": name,
                "target": "both",
                "passed": False,
                "message": message,
                "against": "legacy",
                "operation": req.operation,
                "count": 1,
                "request": _request_dict(req),
                "status": status,
            }
        )

    def _invariant_summary(self) -> list[dict[str, Any]]:
        """Every invariant checked: the broken ones as recorded, then each one that held."""
        broken = {item["name"] for item in self.invariant_results}
        held: list[dict[str, Any]] = []
        unchecked: list[dict[str, Any]] = []
        for inv in self.invariant_defs:
            if inv.name in broken:
                continue
            checks = self.invariant_checks[inv.name]
            item = {"name": inv.name, "target": None, "passed": True, "checks": checks}
            if checks:
                held.append({**item, "message": inv.description})
            else:
                wrote = "wrote " + ", ".join(inv.tables) if inv.tables else "wrote to the database"
                message = f"not checked: no step of this run {wrote} ({inv.description})"
                unchecked.append({**item, "skipped": True, "message": message})
        return [*self.invariant_results, *held, *unchecked]

    def _note_invariant_one(self, name: str, target: str, message: str) -> None:
        for item in self.invariant_results:
            if item["name"] == name and item["target"] == target:
                item["count"] += 1
                return
        self.invariant_results.append(
            {"name": name, "target": target, "passed": False, "message": message, "count": 1}
        )

    # -- findings -----------------------------------------------------------------------------
    def _accept_rule(self, op_id: str, location: str, kind: str) -> AcceptRule | None:
        today = dt.date.today()
        for rule in self.config.accept:
            if (
                match_operation(rule.operation, op_id)
                and fnmatch.fnmatchcase(location, rule.location)
                and (rule.kind in (kind, "*"))
                and rule.expires >= today
            ):
                return rule
        return None

    def _accepted(self, op_id: str, diff: Difference) -> bool:
        return self._accept_rule(op_id, diff.location, diff.kind) is not None

    def _record(self, result: ExchangeResult) -> None:
        seen: set[tuple[str, str, str]] = set()
        for diff in result.differences:
            key = (result.request.operation, diff.location, diff.kind)
            if key in seen:
                continue
            seen.add(key)
            group = self.groups.get(key)
            if group is None:
                self.groups[key] = Group(
                    *key,
                    count=1,
                    example=result,
                    difference=diff,
                    accepted_by=self._accept_rule(*key),
                )
            else:
                group.count += 1
                if result.request.size < group.example.request.size:
                    group.example = result
                    group.difference = diff

    def _shrink_all(self) -> None:
        if not self.profile.shrink:
            return
        started = time.perf_counter()
        for group in self.groups.values():
            if group.accepted_by is None:
                self._shrink(group)
        self.timings.shrink += time.perf_counter() - started

    def _shrink(self, group: Group) -> None:
        """Greedy: drop query params, headers, body keys; shorten strings; keep the signature."""
        req = group.example.request
        if self.mode == "external" and req.method not in SAFE_METHODS:
            return
        budget = self.profile.shrink_budget
        improved = True
        while improved and budget > 0:
            improved = False
            for smaller in _reductions(req):
                if budget <= 0:
                    break
                budget -= 1
                try:
                    result = self.exchange(smaller)
                except HarnessError:
                    raise
                except Exception:
                    continue
                hit = next(
                    (
                        d
                        for d in result.differences
                        if (d.location, d.kind) == (group.location, group.kind)
                    ),
                    None,
                )
                if hit is not None:
                    group.example = result
                    group.difference = hit
                    req = smaller
                    improved = True
                    break

    # -- results ------------------------------------------------------------------------------
    def _info(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "profile": self.profile_name,
            "seed": self.seed,
            "mode": self.mode,
            "operations": [op.id for op in self.selected],
            "run_dir": str(self.run_dir),
        }

    def _op_summary(self, stats: OpStats) -> dict[str, Any]:
        groups = [g for g in self.groups.values() if g.operation == stats.op.id]
        return {
            "id": stats.op.id,
            "method": stats.op.method,
            "path": stats.op.path,
            "operation_id": stats.op.operation_id,
            "cases": stats.cases,
            "agreeing": stats.agreeing,
            "findings": sum(1 for g in groups if g.accepted_by is None),
            "accepted": sum(1 for g in groups if g.accepted_by is not None),
            "status_codes": {k: dict(sorted(v.items())) for k, v in stats.statuses.items()},
            "latency_ms": {k: _latency(v) for k, v in stats.latency.items()},
        }

    def _step_dict(self, ex: ExchangeResult) -> dict[str, Any]:
        req = ex.request
        step: dict[str, Any] = {
            "request": _request_dict(req),
            "legacy": ex.legacy.to_dict(self._shown_headers()),
            "candidate": ex.candidate.to_dict(self._shown_headers()),
            "curl": {
                key: curl_line(
                    self.targets[key].base_url,
                    (ex.candidate_request or req) if key == "candidate" else req,
                )
                for key in ("legacy", "candidate")
                if key in self.targets
            },
        }
        if ex.candidate_request is not None and ex.candidate_request.path != req.path:
            step["candidate_request"] = _request_dict(ex.candidate_request)
        return step

    def _finding(self, group: Group) -> dict[str, Any]:
        ex = group.example
        parts = group.key if group.phase == "stateless" else (group.phase, *group.key)
        digest = hashlib.sha1("|".join(parts).encode()).hexdigest()[:8]
        same = [d for d in ex.differences if (d.location, d.kind) == (group.location, group.kind)]
        steps = [self._step_dict(s) for s in (group.steps or [ex])]
        rule = group.accepted_by
        return {
            "id": f"f-{digest}",
            "phase": group.phase,
            "operation": group.operation,
            "location": group.location,
            "kind": group.kind,
            "summary": group.difference.summary,
            "count": group.count,
            "accepted": rule is not None,
            "accepted_reason": rule.reason if rule else None,
            "accepted_expires": rule.expires.isoformat() if rule else None,
            "example": {
                "steps": steps,
                "diff": [_jsonable(d.to_dict()) for d in (same or [group.difference])],
                "other_diffs": [_jsonable(d.to_dict()) for d in ex.differences if d not in same][
                    :20
                ],
                "db_writes": {
                    "legacy": _writes_dict(ex.legacy_writes),
                    "candidate": _writes_dict(ex.candidate_writes),
                },
            },
        }

    def _shown_headers(self) -> list[str]:
        return [*self.config.compare.headers, "content-type"]

    def results(self) -> dict[str, Any]:
        today = dt.date.today()
        expired = [rule for rule in self.config.accept if rule.expires < today]
        findings = sorted(
            (
                self._finding(g)
                for g in [
                    *self.groups.values(),
                    *self.stateful_groups.values(),
                    *self.interop_groups.values(),
                ]
            ),
            key=lambda f: (f["accepted"], f["operation"], f["location"], f["kind"]),
        )
        accepted = []
        for rule in self.config.accept:
            matched = sum(g.count for g in self.groups.values() if g.accepted_by is rule)
            accepted.append(
                {
                    "operation": rule.operation,
                    "location": rule.location,
                    "kind": rule.kind,
                    "reason": rule.reason,
                    "expires": rule.expires.isoformat(),
                    "matched": matched,
                    "expired": rule.expires < today,
                }
            )
        drift = any(not f["accepted"] for f in findings) or bool(expired)
        invariant_findings = any(f["kind"] == "invariant" for f in findings)
        if self.errors or self.interrupted:
            verdict, code = "error", 2
        elif drift:
            verdict, code = "drift", 1
        else:
            verdict, code = "agree", 0
        for rule in expired:
            self.messages.append(
                f"accepted difference expired on {rule.expires}: {rule.operation} "
                f"{rule.location} {rule.kind} ({rule.reason}) - renew it or fix the drift"
            )
        responses_total = 0
        responses_seen = 0
        for op in self.selected:
            documented = [s for s in op.statuses if s != "default"]
            responses_total += len(documented)
            seen = self.op_stats.get(op.id)
            if seen:
                codes = set(seen.statuses["legacy"])
                responses_seen += sum(
                    1
                    for s in documented
                    if s in codes or (s.upper().endswith("XX") and any(c[0] == s[0] for c in codes))
                )
        finished = _now()
        targets = {}
        for key in ("legacy", "candidate"):
            service = self.services.get(key)
            base = self.targets.get(key)
            targets[key] = {
                "name": (service.name if service else key),
                "base_url": base.base_url if base else None,
                "command": service.command_line if service else None,
                "git_commit": _git_commit(self.config.base_dir),
                "version": None,
            }
        return {
            "schema_version": SCHEMA_VERSION,
            "run_id": self.run_id,
            "verdict": verdict,
            "exit_code": code,
            "started_at": self.started_at,
            "finished_at": finished,
            "duration_s": round(time.monotonic() - self._t0, 2),
            "interrupted": self.interrupted,
            "config": {
                "profile": self.profile_name,
                "seed": self.seed,
                "mode": self.mode,
                "contract": str(self.options.contract_path),
                "config": str(self.options.config_path),
                "operations": [op.id for op in self.selected],
                "phases": (["stateless"] if self.profile.stateless else [])
                + (["stateful"] if self.profile.stateful_sequences > 0 else [])
                + (["noise"] if self.profile.noise != "off" else [])
                + (["interop"] if self.profile.interop and self.mode == "managed" else [])
                + (["invariants"] if self.invariant_defs else []),
            },
            "targets": targets,
            "environment": _environment(),
            "operations": [  # contract operations in run order, the probes row last
                self._op_summary(s)
                for s in sorted(self.op_stats.values(), key=lambda s: s.op is _PROBE_OP)
            ],
            "findings": findings,
            "accepted": accepted,
            "noise": self._noise_results(),
            "invariants": self._invariant_summary(),
            "coverage": {
                "operations_total": len(self.contract.operations),
                "operations_exercised": sum(
                    1 for k, s in self.op_stats.items() if s.cases and k != "probes"
                ),
                "responses_total": responses_total,
                "responses_seen": responses_seen,
            },
            "errors": self.errors,
            # additive (schema v1 allows it): why the verdict is what it is, and where time went
            "messages": self.messages,
            "stats": {
                "exchanges": self.exchanges,
                "cases_drawn": self.gen_stats.drawn,
                "duplicates_dropped": self.gen_stats.duplicates,
                "unencodable_dropped": self.gen_stats.unencodable,
                "generation_errors": self.gen_stats.errors[:50],
                "restores": sum(w.restores for w in self.watchers.values()),
                "case_cache_hits": self.cache_hits,
                "timings_s": self.timings.to_dict(),
                "invariant_findings": invariant_findings,
                "stateful": self.stateful_stats,
                "interop": self.interop_stats,
                "notes": self.messages_info,
            },
        }


# -- helpers ----------------------------------------------------------------------------------
_GEN_ENGINE: Engine | None = None
_T = TypeVar("_T")

_PROBE_OP = Operation(id="probes", method="*", path="*", operation_id=None, statuses=(), api=None)
_GENERATION_SOURCE = hashlib.sha256(
    Path(__file__).with_name("generation.py").read_bytes()
).hexdigest()

GenResult = tuple[list[PreparedRequest], int, int, int, list[str], float]


def _worker_signals() -> None:
    """The worker is stopped by the engine: default SIGTERM, and Ctrl-C is the parent's."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _generate_in_worker(index: int) -> GenResult:
    """Runs in the forked generation worker: the engine is inherited, not pickled."""
    engine = _GEN_ENGINE
    assert engine is not None
    engine.gen_stats = GenerationStats()
    engine.timings.generation = 0.0
    cases = engine.generate(engine.selected[index])
    stats = engine.gen_stats
    return (
        cases,
        stats.drawn,
        stats.duplicates,
        stats.unencodable,
        stats.errors,
        engine.timings.generation,
    )


def _extract(body: Any, path: str) -> Any:
    node = body
    for part in path.lstrip("$").strip(".").split("."):
        if not part:
            continue
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _latency(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "max": 0.0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, JsonText):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is NOT_SET:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _plain(value: Any) -> Any:
    return value.raw if isinstance(value, JsonText) else value


def _plain_writes(writes: Writes) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for table, tw in writes.items():
        out[table] = {
            "inserted": [{k: _plain(v) for k, v in r.items()} for r in tw.inserted],
            "deleted": [{k: _plain(v) for k, v in r.items()} for r in tw.deleted],
            "updated": [{k: _plain(v) for k, v in r["after"].items()} for r in tw.updated],
        }
    return out


def _writes_dict(writes: Writes | None) -> dict[str, Any]:
    if not writes:
        return {}
    return {table: _jsonable(tw.to_dict()) for table, tw in writes.items()}


def _request_dict(req: PreparedRequest) -> dict[str, Any]:
    query: dict[str, Any] = {}
    for k, v in req.query:
        query[k] = (
            v if k not in query else [*([query[k]] if isinstance(query[k], str) else query[k]), v]
        )
    headers = dict(req.headers)
    if req.role is not None:
        headers["Authorization"] = f"Bearer <{req.role}>"
    return {
        "method": req.method,
        "path": req.path,
        "query": query,
        "headers": headers,
        "body": _jsonable(req.body),
        "role": req.role,
        "mode": req.mode,
    }


def _reductions(req: PreparedRequest) -> Iterator[PreparedRequest]:
    """Smaller variants of ``req``, most aggressive first."""
    for i in range(len(req.query)):
        yield replace(req, query=req.query[:i] + req.query[i + 1 :])
    for i, (name, _) in enumerate(req.headers):
        if name.lower() in ("content-type", "accept"):
            continue
        yield replace(req, headers=req.headers[:i] + req.headers[i + 1 :])
    if not req.shrinkable or req.body is NOT_SET:
        return
    body = req.body
    if isinstance(body, dict) and isinstance(body.get("multipart"), list):
        yield from _multipart_reductions(req, body)
        return
    if isinstance(body, dict):
        for key in list(body):
            yield _with_body(req, {k: v for k, v in body.items() if k != key})
        for key, value in body.items():
            if isinstance(value, str) and len(value) > 1:
                yield _with_body(req, {**body, key: value[: len(value) // 2]})
            elif isinstance(value, dict) and value:
                yield _with_body(req, {**body, key: {}})
            elif isinstance(value, list) and value:
                yield _with_body(req, {**body, key: value[:1] if len(value) > 1 else []})
    elif (isinstance(body, list) and body) or (isinstance(body, str) and len(body) > 1):
        yield _with_body(req, body[: len(body) // 2])


def _multipart_reductions(req: PreparedRequest, body: dict[str, Any]) -> Iterator[PreparedRequest]:
    """Text file parts made smaller one at a time (a CSV loses data rows, keeps its header)."""
    parts: list[dict[str, Any]] = body["multipart"]
    for index, part in enumerate(parts):
        for text in text_reductions(part["text"], part.get("contentType"), part.get("filename")):
            smaller = {**part, "text": text, "size": len(text.encode("utf-8"))}
            try:
                yield multipart_request(
                    req, [*parts[:index], smaller, *parts[index + 1 :]], body.get("fields")
                )
            except Exception:
                continue


def _with_body(req: PreparedRequest, body: Any) -> PreparedRequest:
    try:
        return rebuild(req, json_body=body)
    except Exception:
        return req


_GIT: dict[Path, str | None] = {}


def _git_commit(base: Path) -> str | None:
    if base not in _GIT:
        try:
            out = subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"],
                cwd=base,
                capture_output=True,
                timeout=5,
                check=False,
            )
            _GIT[base] = out.stdout.decode().strip() or None if out.returncode == 0 else None
        except OSError:
            _GIT[base] = None
    return _GIT[base]


def _environment() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "parity": ver("parity"),
        "python": platform.python_version(),
        "schemathesis": ver("schemathesis"),
        "hypothesis": ver("hypothesis"),
        "platform": platform.platform(),
    }
