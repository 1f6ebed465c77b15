"""Where the phases get their requests: generation in a spawned worker, the case cache, pools.

Hypothesis is CPU-bound; in a thread it would take the GIL from the sender, so operations
are generated in one worker process while earlier ones are replayed. The worker is started
with ``spawn`` and receives only picklable inputs (contract path, operation id, seed,
counts): it loads the contract itself, so nothing of the parent's threads or sockets leaks
into it. Operations are generated in their fixed order: ``--seed`` reproduces a run.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import json
import multiprocessing as mp
import secrets
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.cases.edges import boundary_cases
from harness.cases.generation import GenerationStats, build_request, generate_cases
from harness.errors import HarnessError
from harness.models import NOT_SET, DataValue, PreparedRequest
from harness.setup.config import AuthConfig, Profile
from harness.setup.contract import Contract, Operation, load_contract

__all__ = ["CaseSource", "GenJob", "request_from_json", "request_to_json"]

# every module whose source shapes the generated cases: part of the cache key
_CASE_MODULES = (
    "cases/generation.py",
    "cases/files.py",
    "cases/source.py",
    "models.py",
    "setup/contract.py",
    "cases/edges.py",
    "setup/overlay.py",
)
CACHE_FORMAT = 1


@dataclass(frozen=True)
class GenJob:
    """Everything a worker needs to generate one operation's cases (all picklable)."""

    contract_path: str
    overlays: tuple[str, ...]
    op_id: str
    seed: int
    positive: int
    negative: int
    roles: tuple[str | None, ...]
    strip_headers: tuple[str, ...]
    strip_cookies: bool
    combined_files: int = 1


@dataclass(frozen=True)
class GenOutput:
    cases: list[PreparedRequest]
    stats: GenerationStats
    elapsed: float


@functools.lru_cache(maxsize=4)
def _contract(path: str, overlays: tuple[str, ...]) -> Contract:
    return load_contract(Path(path), [Path(o) for o in overlays])


def run_job(job: GenJob, contract: Contract | None = None) -> GenOutput:
    """Generate one operation's cases (in the worker, or in-process with ``contract``)."""
    started = time.perf_counter()
    stats = GenerationStats()
    op = (contract or _contract(job.contract_path, job.overlays)).get(job.op_id)
    cases = generate_cases(
        op,
        run_seed=job.seed,
        positive=job.positive,
        negative=job.negative,
        roles=list(job.roles),
        strip_headers=list(job.strip_headers),
        strip_cookies=job.strip_cookies,
        stats=stats,
        combined_files=job.combined_files,
    )
    return GenOutput(cases, stats, time.perf_counter() - started)


def _worker_signals() -> None:
    """The worker is stopped by its parent: default SIGTERM, and Ctrl-C is the parent's."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class CaseSource:
    """Generated cases per operation (pipelined, cached) and the positive pools of steps.

    It is handed the slice of the configuration that shapes cases, not the whole file: the
    auth section (headers generation must not invent, the login operation's bodies) and the
    roles each case is drawn for. Nothing else can reach the cases or their cache key."""

    def __init__(
        self,
        contract: Contract,
        auth: AuthConfig | None,
        roles: list[str | None],
        profile: Profile,
        seed: int,
        cache_dir: Path | None,
        pipeline: bool = True,
    ) -> None:
        self.contract = contract
        self.auth = auth
        self.roles = roles
        self.profile = profile
        self.seed = seed
        self.cache_dir = cache_dir if profile.cache else None
        self.pipeline = pipeline
        self.stats = GenerationStats()
        self.seconds = 0.0
        self.cache_hits = 0
        self._pools: dict[str, list[PreparedRequest]] = {}

    def job(
        self, op: Operation, *, seed: int, positive: int, negative: int, roles: list[str | None]
    ) -> GenJob:
        auth = self.auth
        strip = list(auth.strip_headers if auth else ["authorization"])
        signing = auth.signing if auth else None
        if signing is not None:
            # a signed operation's generated signature and timestamp are made up: the
            # transport signs the bytes it sends (the signing phase sends the bad ones)
            strip += [h for h in (signing.signature_header, signing.timestamp_header) if h]
        return GenJob(
            contract_path=str(self.contract.path),
            overlays=tuple(str(o) for o in self.contract.overlays),
            op_id=op.id,
            seed=seed,
            positive=positive,
            negative=negative,
            roles=tuple(roles),
            strip_headers=tuple(strip),
            strip_cookies=auth.strip_cookies if auth else True,
            combined_files=self.profile.combined_files,
        )

    def _case_job(self, op: Operation) -> GenJob:
        return self.job(
            op,
            seed=self.seed,
            positive=self.profile.positive,
            negative=self.profile.negative,
            roles=self.roles,
        )

    def _fixtures(self, op: Operation, cases: list[PreparedRequest]) -> list[PreparedRequest]:
        """The configured logins first (valid bodies of the login operation), then the
        generated cases, then every stated bound of the operation at and past its limit."""
        cases = cases + self._edges(op, cases)
        auth = self.auth
        if auth is None or op.id not in auth.login_operations() or not auth.roles:
            return cases
        method, _, path = op.id.partition(" ")
        logins = [
            build_request(
                operation=op.id,
                method=method.upper(),
                path=path,
                query=(),
                headers=(("Content-Type", "application/json"),),
                role=None,
                mode="positive",
                json_body=role.body,
            )
            for name, role in auth.roles.items()
            if role.body is not None and auth.for_role(name).login == op.id
        ]
        known = {c.signature() for c in cases}
        return [c for c in logins if c.signature() not in known] + cases

    def _edges(self, op: Operation, cases: list[PreparedRequest]) -> list[PreparedRequest]:
        if op.api is None:
            return []
        positive = [c for c in cases if c.mode == "positive"]
        base = next((c for c in positive if c.role is not None), None) or next(iter(positive), None)
        if base is None:
            return []
        known = {c.signature() for c in cases}
        out: list[PreparedRequest] = []
        for req in boundary_cases(op.api.definition.raw, self.contract.raw, base):
            if req.signature() not in known:
                known.add(req.signature())
                out.append(req)
        return out

    def _absorb(self, out: GenOutput) -> list[PreparedRequest]:
        self.stats.merge(out.stats)
        self.seconds += out.elapsed
        return out.cases

    def generate(self, op: Operation) -> list[PreparedRequest]:
        """One operation's cases, in this process (cache first)."""
        job = self._case_job(op)
        hit = self._cache_load(job)
        if hit is None:
            hit = self._absorb(run_job(job, self.contract))
            self._cache_save(job, hit)
        return self._fixtures(op, hit)

    def stream(self, ops: list[Operation]) -> Iterator[tuple[Operation, list[PreparedRequest]]]:
        """Every operation's cases in order, generated ahead in a spawned worker."""
        from harness.proc import signals

        jobs = [self._case_job(op) for op in ops]
        cached = [self._cache_load(job) for job in jobs]
        missing = [i for i, hit in enumerate(cached) if hit is None]
        if not missing or not self.pipeline:
            for op, job, hit in zip(ops, jobs, cached, strict=True):
                if hit is None:
                    hit = self._absorb(run_job(job, self.contract))
                    self._cache_save(job, hit)
                yield op, self._fixtures(op, hit)
            return
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=mp.get_context("spawn"), initializer=_worker_signals
        )
        try:
            futures: dict[int, Future[GenOutput]] = {
                i: pool.submit(run_job, jobs[i]) for i in missing
            }
            from harness.proc.reaper import REAPER

            for pid in list(getattr(pool, "_processes", {})):
                REAPER.process(pid)
            for i, op in enumerate(ops):
                signals.at(operation=op.id)
                hit = cached[i]
                if hit is None:
                    signals.at(step="generation")  # waiting on the worker drawing the cases
                    try:
                        out = signals.result(futures[i])
                    except HarnessError:
                        raise
                    except Exception as exc:  # the worker died or raised: parity is broken
                        raise HarnessError(
                            f"case generation for {op.id} failed: {type(exc).__name__}: {exc}",
                            kind="harness",
                        ) from exc
                    hit = self._absorb(out)
                    self._cache_save(jobs[i], hit)
                    signals.at(step="")
                yield op, self._fixtures(op, hit)
        finally:
            workers = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
                worker.join(timeout=signals.grace(5))

    def pool(self, op_id: str) -> list[PreparedRequest]:
        """Positive, role-less cases of ``op_id`` for sequence steps, probes and interop."""
        hit = self._pools.get(op_id)
        if hit is None:
            job = self.job(
                self.contract.get(op_id),
                seed=self.seed ^ 0x5EED,
                positive=self.profile.pool,
                negative=0,
                roles=[None],
            )
            # cached like an operation's cases (runs of one seed, as a mutant catalogue or
            # repeated runs make, draw each pool once), but not counted as a cached operation
            hit = self._cache_load(job, pool=True)
            if hit is None:
                hit = self._absorb(run_job(job, self.contract))
                self._cache_save(job, hit, pool=True)
            self._pools[op_id] = hit
        return hit

    # -- the cache: JSON files keyed on everything that shapes the cases ----------------------
    def _cache_path(self, job: GenJob, *, pool: bool = False) -> Path | None:
        if self.cache_dir is None:
            return None
        key = json.dumps(
            [
                CACHE_FORMAT,
                _versions(),
                hashlib.sha256(
                    json.dumps(self.contract.raw, sort_keys=True, default=str).encode()
                ).hexdigest(),
                asdict(job) | {"contract_path": None, "overlays": None},
                _source_digest(),
            ],
            default=str,
        )
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        # pools in a folder of their own: the top level holds one file per operation drawn
        return (
            self.cache_dir / "pools" / f"{digest}.json"
            if pool
            else self.cache_dir / f"{digest}.json"
        )

    def _cache_load(self, job: GenJob, *, pool: bool = False) -> list[PreparedRequest] | None:
        path = self._cache_path(job, pool=pool)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            cases = [request_from_json(item) for item in data["cases"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged cache entry is regenerated, never trusted
        self.cache_hits += not pool  # an operation's cases, not a pool
        return cases

    def _cache_save(self, job: GenJob, cases: list[PreparedRequest], *, pool: bool = False) -> None:
        path = self._cache_path(job, pool=pool)
        if path is None:
            return
        with contextlib.suppress(OSError):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
            data = {"format": CACHE_FORMAT, "cases": [request_to_json(c) for c in cases]}
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)


@functools.lru_cache(maxsize=1)
def _source_digest() -> str:
    here = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for name in _CASE_MODULES:
        h.update((here / name).read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _versions() -> list[str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: list[str | None] = []
    for name in ("parity", "schemathesis", "hypothesis", "httpx"):
        try:
            out.append(version(name))
        except PackageNotFoundError:
            out.append(None)
    return out


def _encode(value: Any) -> Any:
    if value is NOT_SET:
        return {"$": "not_set"}
    if isinstance(value, bytes):
        return {"$": "bytes", "b64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        if "$" in value:
            return {"$": "dict", "items": [[k, _encode(v)] for k, v in value.items()]}
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return {"$": "tuple", "items": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        tag = value.get("$")
        if tag == "not_set":
            return NOT_SET
        if tag == "bytes":
            return base64.b64decode(value["b64"])
        if tag == "dict":
            return {k: _decode(v) for k, v in value["items"]}
        if tag == "tuple":
            return tuple(_decode(v) for v in value["items"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def request_to_json(req: PreparedRequest) -> dict[str, Any]:
    """A request as JSON, byte for byte (content in base64, NOT_SET tagged)."""
    out: dict[str, Any] = {k: _encode(v) for k, v in req.__dict__.items()}
    return out


def request_from_json(data: dict[str, Any]) -> PreparedRequest:
    fields = {k: _decode(v) for k, v in data.items()}
    for name in ("query", "headers", "path_params"):
        fields[name] = tuple(tuple(pair) for pair in fields[name])
    if "data_values" in fields:
        fields["data_values"] = tuple(
            DataValue(loc, tuple(keys), origin, private)
            for loc, keys, origin, private in fields["data_values"]
        )
    return PreparedRequest(**fields)
