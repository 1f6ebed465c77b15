"""Unit tests of the engine's phases: no services, no databases on disk.

A run context is built around two ``httpx.MockTransport`` handlers (the legacy and the
candidate) and fake watchers; the phases run on it exactly as in a real run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.cases.source import CaseSource
from harness.compare.findings import Findings
from harness.compare.noise import NoiseLedger
from harness.models import TableWrites, Writes
from harness.pair.targets import Pair, Timings
from harness.pair.transport import Target, Transport
from harness.run.context import NullListener, RunContext
from harness.run.invariant_log import InvariantLog
from harness.setup.config import ParityConfig, load_config
from harness.setup.contract import load_contract

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "pair"
Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeWatcher:
    """Stands in for a database watcher: ``pending`` are the rows the next read reports."""

    pending: Writes = field(default_factory=dict)
    restores: int = 0
    restore_s: float = 0.0
    live: Path = Path("/nonexistent")

    def changed(self) -> bool:
        return bool(self.pending)

    def writes(self) -> Writes:
        return self.pending

    def rebase(self) -> None:
        self.pending = {}

    def restore(self) -> None:
        self.restores += 1
        self.pending = {}

    def close(self) -> None:
        pass


def json_response(status: int, body: Any) -> httpx.Response:
    return httpx.Response(
        status, content=json.dumps(body), headers={"content-type": "application/json"}
    )


def items_service(*, drift: str = "") -> Handler:
    """A tiny in-memory version of the fixture pair's API, with one switchable drift."""

    def handle(request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        authed = request.headers.get("authorization", "").startswith("Bearer tok-")
        if path == "/login" and method == "POST":
            body = json.loads(request.content or b"{}")
            return json_response(200, {"token": f"tok-{body.get('username', 'x')}"})
        if path == "/health":
            return json_response(200, {"status": "ok"})
        if path == "/items" and method == "GET":
            if not authed:
                return json_response(401, {"error": "unauthorized"})
            name = "Widget" if drift != "value" else "widget"
            return json_response(200, {"items": [{"id": 1, "name": name}]})
        if path == "/items" and method == "POST":
            if not authed:
                return json_response(401, {"error": "unauthorized"})
            if drift == "500":
                return httpx.Response(500, content=b"Internal Server Error")
            return json_response(201, {"id": 2, "name": "new"})
        if path.startswith("/items/") and method == "GET":
            return json_response(404, {"error": "not_found"})
        if method not in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            return httpx.Response(405 if drift != "options" else 404)
        return json_response(405 if drift != "method" else 404, {"error": "method"})

    return handle


@pytest.fixture(scope="session")
def contract() -> Any:
    return load_contract(FIXTURE / "openapi.yaml")


@pytest.fixture
def config(tmp_path: Path) -> ParityConfig:
    return load_config(FIXTURE / "parity.toml")


@dataclass
class Built:
    ctx: RunContext
    watchers: dict[str, FakeWatcher]


@pytest.fixture
def build(contract: Any, config: ParityConfig, tmp_path: Path) -> Iterator[Callable[..., Built]]:
    transports: list[Transport] = []

    def make(
        legacy: Handler,
        candidate: Handler,
        *,
        operations: list[str] | None = None,
        profile: dict[str, Any] | None = None,
        cfg: ParityConfig | None = None,
        watched: bool = True,
    ) -> Built:
        cfg = cfg or config
        prof = cfg.profile("dev").model_copy(
            update={"positive": 4, "negative": 2, "cache": False, **(profile or {})}
        )
        targets = {
            "legacy": Target("legacy", "http://legacy.test"),
            "candidate": Target("candidate", "http://candidate.test"),
        }
        for target in targets.values():
            target.tokens = {"admin": "tok-admin", "viewer": "tok-viewer"}
        retries: dict[str, int] = {}  # the pair's tally, as open_pair shares it
        transport = Transport(
            targets["legacy"],
            targets["candidate"],
            timeout_s=5,
            mounts={
                "legacy": httpx.MockTransport(legacy),
                "candidate": httpx.MockTransport(candidate),
            },
            retries=retries,
        )
        transports.append(transport)
        pair = Pair(
            cfg,
            "external",
            tmp_path / "run",
            tmp_path,
            Timings(),
            targets=targets,
            transport=transport,
            retries=retries,
        )
        watchers = {"legacy": FakeWatcher(), "candidate": FakeWatcher()} if watched else {}
        pair.watchers = watchers  # type: ignore[assignment]
        selected = contract.select(operations or [], cfg.exclude)
        ctx = RunContext(
            contract=contract,
            config=cfg,
            profile=prof,
            seed=3,
            selected=selected,
            pair=pair,
            cases=CaseSource(
                contract, cfg.auth, cfg.role_names(prof), prof, 3, None, pipeline=False
            ),
            findings=Findings(cfg.accept),
            invariants=InvariantLog(pair, [], None),
            noise=NoiseLedger(),
            listener=NullListener(),
            run_dir=tmp_path / "run",
        )
        return Built(ctx, watchers)

    yield make
    for transport in transports:
        transport.close()


def writes(table: str, **row: Any) -> Writes:
    return {table: TableWrites(inserted=[dict(row)])}
