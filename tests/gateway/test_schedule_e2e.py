"""A promotion schedule driven by live comparisons through ``parity gateway`` in front of the
shipped pair: with too little traffic it halts and says so; on an agreeing port it advances
10 -> 50 -> port; with a drift from the mutant catalogue switched on it rolls back to shadow.
Every move is a logged change by ``schedule``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_gateway_e2e import TOKEN, _config, _start_port, _wait
from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

ROUTE = "GET /api/cases/{id}"
ADMIN = {"x-parity-token": TOKEN}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("schedseed") / "seed.db"
    seed(path)
    return path


@contextmanager
def gateway(tmp: Path, seeded: Path, mutant: str) -> Iterator[tuple[httpx.Client, str]]:
    db = tmp / "shared.db"
    db.write_bytes(seeded.read_bytes())
    with running("legacy", db, tmp) as legacy:
        port, port_url, _ = _start_port(db, tmp, mutant)
        listen = f"127.0.0.1:{free_port()}"
        cfg = _config(tmp, legacy.url, port_url, listen)
        cfg.write_text(
            cfg.read_text()
            + f'\n[gateway.routes]\n"{ROUTE}" = "shadow"\n'
            + f'\n[gateway.shift]\nstate_file = "{tmp / "state.json"}"\n'
            + '[gateway.shift.identity]\nkind = "header"\nname = "x-caller"\n'
            + f'[gateway.shift.schedules."{ROUTE}"]\nsteps = [10, 50, 100]\n'
            + "min_comparisons = 40\nmin_bake_s = 2\nagreement = 0.9\np95_factor = 20\n"
            + "rollback_min_samples = 10\nmax_disagreement_rate = 0.05\n"
        )
        log = tmp / "gateway.log"
        env = {**os.environ, "GW_TEST_TOKEN": TOKEN, "PARITY_TRAFFIC_KEY": "k" * 32}
        with log.open("wb") as out:
            gw = subprocess.Popen(
                [sys.executable, "-m", "harness", "gateway", "--config", str(cfg), "--quiet"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            url = f"http://{listen}"
            _wait(url + "/api/health", gw, log)
            with httpx.Client(base_url=url, timeout=60) as client:
                yield client, legacy.login("admin")
        finally:
            stop(gw)
            stop(port)


def _route(client: httpx.Client) -> dict[str, Any]:
    doc: dict[str, Any] = client.get("/_parity/routes", headers=ADMIN).json()
    return doc


def _traffic(client: httpx.Client, token: str, start: int, n: int) -> None:
    for i in range(start, start + n):
        r = client.get(
            f"/api/cases/{1 + i % 40}",
            headers={"x-caller": f"caller-{i}", "authorization": f"Bearer {token}"},
        )
        assert r.status_code < 500, r.text


def _promote(client: httpx.Client) -> None:
    res = client.post(
        "/_parity/promote",
        headers=ADMIN,
        json={"route": ROUTE, "reason": "e2e schedule", "who": "tester"},
    )
    assert res.status_code == 200, res.text


def _drive(client: httpx.Client, token: str, until: str, deadline_s: float = 300) -> dict[str, Any]:
    """Traffic in batches until the route's mode is ``until`` (each batch then a look)."""
    deadline, sent = time.monotonic() + deadline_s, 0
    while True:
        state = _route(client)
        if state["routes"][ROUTE]["mode"] == until:
            return state
        assert time.monotonic() < deadline, state
        _traffic(client, token, sent, 50)
        sent += 50


def test_halts_without_traffic_then_advances_to_port(tmp_path: Path, seeded: Path) -> None:
    with gateway(tmp_path, seeded, "") as (client, token):
        _promote(client)
        deadline = time.monotonic() + 60
        while "too little traffic" not in str(_route(client)["routes"][ROUTE]["schedule"]):
            assert time.monotonic() < deadline, _route(client)
            time.sleep(0.2)  # polls the gateway's own 1 s schedule tick
        halted = _route(client)["routes"][ROUTE]
        final = _drive(client, token, "port")
    print("\nschedule e2e (agreeing):", json.dumps(final["changes"]))
    assert (halted["mode"], halted["percent"]) == ("canary", 10.0)
    steps = [(c["who"], c["after"]) for c in final["changes"]]
    assert steps == [
        ("tester", ["canary", 10.0]),
        ("schedule", ["canary", 50.0]),
        ("schedule", ["port", 100.0]),
    ]
    assert "agreement over" in final["changes"][1]["why"]


def test_rolls_back_on_a_drift_from_the_catalogue(tmp_path: Path, seeded: Path) -> None:
    with gateway(tmp_path, seeded, "case-field-dropped") as (client, token):
        _promote(client)
        final = _drive(client, token, "shadow")
    print("\nschedule e2e (mutant):", json.dumps(final["changes"]))
    last = final["changes"][-1]
    assert (last["who"], last["after"]) == ("schedule", ["shadow", 0.0])
    assert "rolled back from 10% to shadow: disagreement" in last["why"]
