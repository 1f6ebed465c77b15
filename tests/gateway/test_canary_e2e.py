"""``parity gateway`` with a canary route in front of the shipped pair (real Next.js, the real
port, one shared SQLite file): 1,000 distinct callers split 10% ± 3% to the port and keep
their side across logins; the port killed mid-run: no 5xx on reads, fallbacks counted, the
breaker opens, and closes once the port is back; every shift is in the change log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.test_gateway_e2e import PORT_SCRIPT, TOKEN, _config, _wait
from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

ROUTE = "GET /api/cases"


def _port(db: Path, tmp: Path, number: int) -> subprocess.Popen[bytes]:
    log = tmp / f"port-{number}-{time.monotonic_ns()}.log"
    env = {**os.environ, "DATABASE_PATH": str(db), "PORT": str(number), "PARITY_MUTANT": ""}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", PORT_SCRIPT],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait(f"http://127.0.0.1:{number}/api/health", proc, log)
    return proc


def _side(response: httpx.Response) -> str:
    return str(response.headers.get("x-parity-side", "legacy"))


def test_canary_split_stickiness_and_port_death(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    seed(db)
    admin = {"x-parity-token": TOKEN}
    with running("legacy", db, tmp_path) as legacy:
        port_number = free_port()
        port = _port(db, tmp_path, port_number)
        listen = f"127.0.0.1:{free_port()}"
        cfg = _config(tmp_path, legacy.url, f"http://127.0.0.1:{port_number}", listen)
        cfg.write_text(
            cfg.read_text()
            + f'\n[gateway.routes]\n"{ROUTE}" = "shadow"\n'
            + f'\n[gateway.shift]\nstate_file = "{tmp_path / "state.json"}"\n'
            + '[gateway.shift.identity]\nkind = "header"\nname = "x-caller"\n'
            + "[gateway.shift.breaker]\nconsecutive = 3\nopen_s = 1.0\n"
        )
        gw_log = tmp_path / "gateway.log"
        env = {**os.environ, "GW_TEST_TOKEN": TOKEN, "PARITY_TRAFFIC_KEY": "k" * 32}
        with gw_log.open("wb") as logf:
            gw = subprocess.Popen(
                [sys.executable, "-m", "harness", "gateway", "--config", str(cfg), "--quiet"],
                cwd=ROOT,
                env=env,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        out: dict[str, Any] = {}
        try:
            url = f"http://{listen}"
            _wait(url + "/api/health", gw, gw_log)
            with httpx.Client(base_url=url, timeout=60) as client:
                refused = client.post(
                    "/_parity/shift", json={"route": ROUTE, "mode": "canary", "percent": 10}
                )
                out["anonymous_shift"] = refused.status_code
                shifted = client.post(
                    "/_parity/shift",
                    headers=admin,
                    json={
                        "route": ROUTE,
                        "mode": "canary",
                        "percent": 10,
                        "reason": "e2e: first step",
                        "who": "tester",
                    },
                )
                assert shifted.status_code == 200, shifted.text
                bad = client.post(
                    "/_parity/shift",
                    headers=admin,
                    json={
                        "route": ROUTE,
                        "mode": "canary",
                        "percent": 140,
                        "reason": "x",
                        "who": "tester",
                    },
                )
                out["bad_shift"] = (bad.status_code, bad.json()["error"])
                tokens = [legacy.login("agent"), legacy.login("agent")]
                sides: dict[int, str] = {}
                statuses: set[int] = set()
                for n in range(1000):
                    r = client.get(
                        "/api/cases",
                        headers={"x-caller": f"caller-{n}", "authorization": f"Bearer {tokens[0]}"},
                    )
                    statuses.add(r.status_code)
                    sides[n] = _side(r)
                out["statuses"] = statuses
                out["share"] = sum(1 for s in sides.values() if s == "port") / 10
                # a second login: a new token, the same callers, the same sides
                again = {
                    n: _side(
                        client.get(
                            "/api/cases",
                            headers={
                                "x-caller": f"caller-{n}",
                                "authorization": f"Bearer {tokens[1]}",
                            },
                        )
                    )
                    for n in range(200)
                }
                out["moved"] = [n for n in again if again[n] != sides[n]]
                on_port = [n for n, s in sides.items() if s == "port"]
                stop(port)  # the port dies mid-run
                during = [
                    client.get(
                        "/api/cases",
                        headers={"x-caller": f"caller-{n}", "authorization": f"Bearer {tokens[0]}"},
                    )
                    for n in on_port[:40]
                ]
                out["during"] = sorted({(r.status_code, _side(r)) for r in during})
                out["routes_down"] = client.get("/_parity/routes", headers=admin).json()
                out["metrics_down"] = client.get("/metrics", headers=admin).text
                port = _port(db, tmp_path, port_number)  # back, on the same address
                deadline = time.monotonic() + 120
                while True:
                    r = client.get(
                        "/api/cases",
                        headers={
                            "x-caller": f"caller-{on_port[0]}",
                            "authorization": f"Bearer {tokens[0]}",
                        },
                    )
                    state = client.get("/_parity/routes", headers=admin).json()
                    if state["routes"][ROUTE]["breaker"]["state"] == "closed":
                        break
                    assert time.monotonic() < deadline, state
                    time.sleep(0.1)  # paces the probes; the loop waits on the breaker's state
                out["back_side"] = _side(r)
                out["routes_up"] = state
        finally:
            stop(gw)
            stop(port)
        results = json.loads((tmp_path / "results" / "results.json").read_text())
        out["panel"] = next(r for r in results["gateway"]["routes"] if r["route"] == ROUTE)
    print(
        "\ncanary e2e:",
        json.dumps({k: v for k, v in out.items() if "metrics" not in k}, default=str)[:3000],
    )
    assert out["anonymous_shift"] == 401
    assert out["bad_shift"][0] == 400
    assert "outside" in out["bad_shift"][1]
    assert out["statuses"] == {200}
    assert 7 <= out["share"] <= 13, out["share"]
    assert out["moved"] == []
    assert out["during"] == [(200, "legacy")]
    down = out["routes_down"]["routes"][ROUTE]
    assert down["breaker"]["state"] in ("open", "half-open")
    assert down["fallbacks"] >= 40
    assert 'parity_gateway_breaker_open{route="GET /api/cases"} 1.0' in out["metrics_down"]
    assert "parity_gateway_fallbacks_total" in out["metrics_down"]
    assert out["back_side"] == "port"
    changes = out["routes_up"]["changes"]
    assert [(c["who"], c["why"], c["after"]) for c in changes] == [
        ("tester", "e2e: first step", ["canary", 10.0])
    ]
    # the report's route panel: mode, share, breaker with its transitions, the change
    panel = out["panel"]
    assert (panel["mode"], panel["percent"]) == ("canary", 10.0)
    assert panel["fallbacks"] >= 40
    assert panel["breaker"] == "closed"
    moves = [(t["before"], t["after"]) for t in panel["breaker_transitions"]]
    assert ("closed", "open") in moves
    assert moves[-1] == ("half-open", "closed")
    assert [c["after"] for c in panel["changes"]] == ["canary 10%"]
    assert panel["compared"] > 0
    assert set(panel["latency_ms"]) == {"legacy", "candidate"}
