"""The orchestrator: plan the phases, bring the pair up, run the phases in order, build results.

    phases = engine.plan()                     # probes, stateless, stateful, interop, noise
    with engine.session() as ctx:              # services or URLs, transport, watchers, restore
        for phase in phases:
            phase.execute(ctx)                 # adds to ctx.findings, emits typed events
    results = build_results(meta, config, ctx) # a pydantic model; reporters read only this

Each phase lives in ``harness/run/phases/``; none of them calls back into this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cases.source import CaseSource
from harness.compare.findings import Findings
from harness.compare.noise import NoiseLedger
from harness.errors import HarnessError
from harness.models import ExchangeResult
from harness.pair.targets import check_tokens, open_pair
from harness.reporting.results import Results, RunStarted
from harness.run.context import Listener, NullListener, RunContext
from harness.run.invariant_log import InvariantLog
from harness.run.outcome import RunMeta, build_results, now
from harness.run.partition import Partition, ShardPart, ShardSpec
from harness.run.phases import (
    Growth,
    Idempotency,
    Interop,
    Phase,
    Probes,
    RateLimit,
    Realtime,
    ReuseNoise,
    Rows,
    SaveNoise,
    Shrink,
    Signing,
    Stateful,
    Stateless,
    StaticContract,
)
from harness.setup.config import ParityConfig, Profile
from harness.setup.contract import Contract, Operation

__all__ = ["Engine", "Listener", "NullListener", "RunOptions", "new_run_id"]

_LOGOUT = re.compile(r"log-?out|sign-?out", re.IGNORECASE)


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{secrets.token_hex(2)}"


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
    cache: bool | None = None  # None: as the profile says
    shard: ShardSpec | None = None  # --shard i/n: this run's part of the work
    shard_plan: Path | None = None  # --workers: the partition its parent planned
    cache_dir: Path | None = None  # None: <report_dir>/.cache/cases
    traffic: list[Path] = field(default_factory=list)  # --traffic: replay these captures
    keep_going: bool = False  # --keep-going: skip broken traffic entries with a warning

    @property
    def external(self) -> bool:
        return self.legacy_url is not None or self.candidate_url is not None


class Engine:
    """One run of parity over one pair: ``Engine(...).run()`` returns the results document."""

    def __init__(
        self,
        contract: Contract,
        config: ParityConfig,
        options: RunOptions,
        listener: Listener | None = None,
        *,
        on_exchange: Callable[[ExchangeResult], None] | None = None,
        extra_phases: dict[str, list[Phase]] | None = None,
    ) -> None:
        self.contract = contract
        self.config = config
        self.options = options
        self.listener: Listener = listener or NullListener()
        self.profile_name = options.profile or (
            "dev" if "dev" in config.profiles else next(iter(config.profiles), "default")
        )
        profile: Profile = config.profile(self.profile_name)
        if options.cache is not None:
            profile = profile.model_copy(update={"cache": options.cache})
        self.profile = profile
        self.seed = options.seed if options.seed is not None else secrets.randbelow(2**31)
        self.run_id = new_run_id()
        self.run_dir = options.report_dir / self.run_id
        self.mode = "external" if options.external else "managed"
        self.on_exchange = on_exchange
        self.extra_phases = extra_phases or {}  # "after:<phase name>" -> phases to add there
        self._part: ShardPart | None = None
        self._traffic: Any = None
        self._traffic_part: Any = None  # --traffic --shard: the part of the replay it runs

    def whole(self) -> list[Operation]:
        """The run's selection (every shard's together)."""
        return self.contract.select(self.options.operations, self.config.exclude)

    def shard_part(self) -> ShardPart | None:
        """``--shard i/n``: this run's part of the partition (planned once)."""
        spec = self.options.shard
        if spec is None:
            return None
        if self._part is None:
            from harness.run.sharding import plan_for, traffic_part

            plan = plan_for(self, spec)
            if self.options.traffic:  # whole caller sessions, not operations
                self._part, self._traffic_part = traffic_part(self, plan, spec)
            else:
                self._part = plan.part(spec.index, self.whole())
        return self._part

    def partition(self, count: int) -> Partition:
        from harness.run.sharding import plan_partition

        return plan_partition(self, count)

    def traffic(self) -> Any:
        """``--traffic``: the captures read and routed once (a ``TrafficPlan``), else None."""
        if self.options.traffic and self._traffic is None:
            from harness.traffic.replay import load_plan

            self._traffic = load_plan(self)
        return self._traffic

    def selected(self) -> list[Operation]:
        """The operations this run sends cases for: the selection, or a shard's part of it."""
        whole = self.whole()
        if self.options.traffic:  # the operations the traffic holds
            seen = self.traffic().operations
            whole = [op for op in whole if op.id in seen]
        part = self.shard_part()
        if part is None:
            return whole
        mine = set(part.operations)
        return [op for op in whole if op.id in mine]

    def plan(self) -> list[Phase]:
        """The phases this profile asks for, in the order they run."""
        profile = self.profile
        phases: list[Phase] = []
        if self.options.traffic:
            from harness.run.phases.traffic import Replay

            mine = self._traffic_part if self.shard_part() is not None else self.traffic()
            return [Replay(mine, self.config.traffic)]
        if self.config.candidate_contract is not None:
            phases.append(StaticContract())  # before any request
        if profile.stateless:
            if profile.probes:
                phases.append(Probes())
            phases.append(Stateless())
            if profile.rows:
                phases.append(Rows())
            if profile.growth_rows > 0 and self.watches_databases():
                phases.append(Growth())  # after every phase whose creates it sends again
            if self.config.auth is not None and self.config.auth.signing is not None:
                phases.append(Signing())
            if self.config.probes.idempotency:
                phases.append(Idempotency())  # probes the operations that take a key, if any
            phases.append(Shrink())
        if profile.noise == "reuse":
            phases.append(ReuseNoise())
        if profile.sequence_count > 0:
            phases.append(Stateful())
        if profile.realtime and self.config.realtime is not None:
            phases.append(Realtime())
        if profile.interop and self.can_interop():
            phases.append(Interop())
        if profile.noise == "calibrate":
            phases.append(SaveNoise())
        if self.config.rate_limit and self.config.probes.rate_limit:
            phases.append(RateLimit())  # last: the counters it fills starve nothing
        out: list[Phase] = []
        for phase in phases:
            out.append(phase)
            out.extend(self.extra_phases.get(f"after:{phase.name}", []))
        return out

    def _checks(self) -> list[str]:
        """Checks that run inside the phases rather than as one, listed with them."""
        out = []
        if self.profile.noise != "off":
            out.append("noise")
        if self.watches_databases() and self.profile.invariants and self.config.invariants.file:
            out.append("invariants")
        return out

    def cache_root(self) -> Path:
        """parity's cache folder: ``<report-dir>/.cache`` (the case cache is its ``cases``,
        the setup_command stamp its ``setup``); a worker's ``--cache-dir`` names its
        parent's ``cases``, so workers share one root."""
        if self.options.cache_dir is not None:
            return self.options.cache_dir.parent
        return self.options.report_dir / ".cache"

    def logout_operation(self) -> str | None:
        """The contract's logout, when the probes will use a logged-out token."""
        auth = self.config.auth
        if not (self.profile.stateless and self.profile.probes) or auth is None:
            return None
        if not self.config.probes.auth:  # no logged-out-token probe to prepare
            return None
        if not auth.roles:
            return None
        if auth.logout is not None:
            return auth.logout
        for op in self.contract.operations:
            if op.method in ("POST", "DELETE") and "{" not in op.path and _LOGOUT.search(op.path):
                return op.id
        return None

    def watches_databases(self) -> bool:
        """Managed mode, or URL mode with ``[external] databases``."""
        return self.mode == "managed" or bool(self.config.external.databases)

    def can_interop(self) -> bool:
        """Managed mode; or URL mode with both databases SQLite files and ``[services]``
        saying how to start each side on a shared copy."""
        if self.mode == "managed":
            return True
        from harness.db.watcher import engine_of

        databases = self.config.external_databases()
        return (
            bool(databases)
            and all(engine_of(db) == "sqlite" for db in databases.values())
            and all(key in self.config.services for key in ("legacy", "candidate"))
        )

    @contextlib.contextmanager
    def session(self) -> Iterator[RunContext]:
        """The pair up and logged in, invariants loaded: a context the phases run on."""
        selected = self.selected()
        config, snapshot_file = self.config, None
        start = self.traffic().start if self.options.traffic else None
        if start is not None and start.file is not None:
            snapshot_file = start.file  # the capture's snapshot: both sides start from it
        elif start is not None and config.snapshot is not None:
            snapshot = config.snapshot.model_copy(update={"seed": start.seed})
            config = config.model_copy(update={"snapshot": snapshot})
        with open_pair(
            config,
            self.profile,
            self.run_dir,
            legacy_url=self.options.legacy_url,
            candidate_url=self.options.candidate_url,
            base_path=(
                self.config.base_path
                if self.config.base_path is not None
                else self.contract.base_path
            ),
            message=self.listener.message,
            logout=self.logout_operation(),
            stamp_dir=self.cache_root() / "setup",
            snapshot_file=snapshot_file,
        ) as pair:
            logins = config.auth.login_operations() if config.auth is not None else []
            check_tokens(
                pair,
                [
                    op.id
                    for op in self.contract.operations
                    if op.method == "GET" and "{" not in op.path and op.id not in logins
                ],
            )
            defs = []
            rel = self.config.invariants.file
            if pair.watchers and self.profile.invariants and rel:
                from harness.db.invariants import load_invariants

                defs = load_invariants(self.config.resolve(rel))
            invariants = InvariantLog(pair, defs, self.config.invariant_api_role())
            with contextlib.closing(invariants):
                yield RunContext(
                    contract=self.contract,
                    config=self.config,
                    profile=self.profile,
                    seed=self.seed,
                    selected=selected,
                    pair=pair,
                    cases=CaseSource(
                        self.contract,
                        self.config.auth,
                        self.config.role_names(self.profile),
                        self.profile,
                        self.seed,
                        self.options.cache_dir or self.cache_root() / "cases",
                    ),
                    findings=Findings(self.config.accept_rules(self.profile_name)),
                    invariants=invariants,
                    noise=NoiseLedger(margin=self.config.noise.margin),
                    listener=self.listener,
                    run_dir=self.run_dir,
                    on_exchange=self.on_exchange,
                    shard=self.shard_part(),
                )

    def run(self) -> Results:
        """Run everything; never raises HarnessError or KeyboardInterrupt: both become results."""
        started_at, t0 = now(), time.monotonic()
        phases = self.plan()
        meta = RunMeta(
            run_id=self.run_id,
            profile=self.profile_name,
            seed=self.seed,
            mode=self.mode,
            contract=str(self.options.contract_path),
            config=str(self.options.config_path),
            phases=[p.name for p in phases] + self._checks(),
            probes_skipped=self.config.probes.off(),
            started_at=started_at,
            duration_s=0.0,
            require_proof=self.profile.require_proof,
        )
        ctx: RunContext | None = None
        from harness.proc import signals

        signals.at("start-up")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=False)
            self.listener.run_started(
                RunStarted(
                    run_id=self.run_id,
                    profile=self.profile_name,
                    seed=self.seed,
                    mode=self.mode,
                    operations=[op.id for op in self.selected()],
                    run_dir=str(self.run_dir),
                )
            )
            with self.session() as ctx:
                for phase in phases:
                    ctx.phase = phase.name
                    signals.at(phase.name)
                    phase.execute(ctx)
                signals.at("teardown")
        except HarnessError as exc:
            meta.errors.append(exc.to_dict())
        except KeyboardInterrupt:
            signals.handled()
            meta.interrupted = True
            meta.errors.append(
                {
                    "kind": "interrupted",
                    "message": f"interrupted (Ctrl-C or SIGTERM) in {signals.where()}",
                    "log_tail": None,
                }
            )
        meta.duration_s = time.monotonic() - t0
        results = build_results(meta, self.config, ctx)
        if self.options.shard is not None:
            from harness.run.sharding import shard_info

            results.shard = shard_info(self, ctx)
        return results
