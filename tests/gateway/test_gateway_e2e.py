"""``parity gateway`` in front of the shipped pair (real Next.js, the real port, one shared
SQLite file), driven by the traffic simulator: an agreeing port stays quiet, a mutant on a
read is found with the real request, no write reaches the port, the admin side needs the
token, SIGTERM drains and writes the results; the realtime WebSocket passes through to the
legacy, events and close codes alike."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

TOKEN = "gw-test-token-5f1e"
PORT_SCRIPT = (
    "import os, uvicorn\n"
    "from tests.mutants.launcher import build_app\n"
    "uvicorn.run(build_app(os.environ.get('PARITY_MUTANT') or None), host='127.0.0.1',"
    " port=int(os.environ['PORT']), log_level='info', access_log=True)\n"
)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gwseed") / "seed.db"
    seed(path)
    return path


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} not up: {log.read_text()[-2000:]}")


def _start_port(db: Path, tmp: Path, mutant: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = tmp / f"port-{port}.log"
    env = {**os.environ, "DATABASE_PATH": str(db), "PORT": str(port), "PARITY_MUTANT": mutant}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", PORT_SCRIPT],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    _wait(url + "/api/health", proc, log)
    return proc, url, log


def _config(tmp: Path, legacy: str, candidate: str, listen: str) -> Path:
    text = (ROOT / "contracts" / "parity.toml").read_text()
    text = text.replace(
        'contract = "openapi.yaml"', f'contract = "{ROOT / "contracts" / "openapi.yaml"}"'
    )
    text = text.replace(
        'file = "invariants.py"', f'file = "{ROOT / "contracts" / "invariants.py"}"'
    )
    text += (
        f'\n[gateway]\nlisten = "{listen}"\nlegacy = "{legacy}"\ncandidate = "{candidate}"\n'
        f'default_mode = "shadow"\nresults = "{tmp / "results"}"\ncapture = "{tmp / "capture.jsonl"}"\n'
        'token_env = "GW_TEST_TOKEN"\n'
        # these tests count shadows and comparisons: none may be shed because the shared
        # machine is slow (shedding has its own tests: test_shedding*.py)
        "shed = { enabled = false }\n"
    )
    path = tmp / "parity.toml"
    path.write_text(text)
    return path


def _start_gateway(cfg: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``parity gateway --config cfg`` in its own session, its log in ``tmp``."""
    log = tmp / "gateway.log"
    env = {**os.environ, "GW_TEST_TOKEN": TOKEN, "PARITY_TRAFFIC_KEY": "k" * 32}
    with log.open("wb") as out:
        gw = subprocess.Popen(
            [sys.executable, "-m", "harness", "gateway", "--config", str(cfg)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return gw, log


def gateway_run(
    tmp: Path,
    seeded: Path,
    mutant: str = "",
    requests: int = 150,
    kill_port: bool = False,
    before: Callable[[str], Any] | None = None,
) -> dict[str, Any]:
    """Legacy + port on one copy of the seed, the gateway in front, the simulator through it
    (``before``: called with the gateway's URL first, its result in ``out["before"]``)."""
    db = tmp / "shared.db"
    db.write_bytes(seeded.read_bytes())
    out: dict[str, Any] = {}
    with running("legacy", db, tmp, realtime=before is not None) as legacy:
        port_proc, port_url, port_log = _start_port(db, tmp, mutant)
        gw_port = free_port()
        listen = f"127.0.0.1:{gw_port}"
        cfg = _config(tmp, legacy.url, port_url, listen)
        gw, gw_log = _start_gateway(cfg, tmp)
        try:
            url = f"http://{listen}"
            _wait(url + "/api/health", gw, gw_log)
            if before is not None:
                out["before"] = before(url)
            rounds = [("7", requests)]
            if kill_port:
                rounds = [("7", requests // 2), ("8", requests // 2)]
            for i, (seed_, count) in enumerate(rounds):
                if i == 1:
                    stop(port_proc)  # the port dies mid-run
                argv = ["--url", url, "--seed", seed_, "--requests", str(count)]
                sim = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "harness.traffic.simulator",
                        *argv,
                        "--out",
                        str(tmp / f"sim{i}.jsonl"),
                    ],
                    cwd=ROOT,
                    capture_output=True,
                    text=True,
                    timeout=600,
                )
                assert sim.returncode == 0, sim.stderr
            out["metrics_anonymous"] = httpx.get(url + "/metrics").status_code
            out["status_anonymous"] = httpx.get(url + "/_parity/status").status_code
            out["metrics"] = httpx.get(url + "/metrics", headers={"x-parity-token": TOKEN}).text
            gw.send_signal(signal.SIGTERM)
            out["exit"] = gw.wait(timeout=120)
        finally:
            stop(gw)
            stop(port_proc)
        out["port_log"] = port_log.read_text()
        out["gateway_log"] = gw_log.read_text()
        out["results"] = json.loads((tmp / "results" / "results.json").read_text())
        out["capture"] = (tmp / "capture.jsonl").read_text()
    return out


def _open(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in results["findings"] if not f["accepted"]]


def test_agreeing_port_no_finding_and_no_write_mirrored(tmp_path: Path, seeded: Path) -> None:
    out = gateway_run(tmp_path, seeded)
    results = out["results"]
    assert out["exit"] == 0, out["gateway_log"][-3000:]
    compared = sum(o["cases"] for o in results["operations"])
    assert compared > 50, results["gateway"]
    assert _open(results) == [], [(f["operation"], f["summary"]) for f in _open(results)]
    # the port served the shadowed reads but never a write: shared database
    port_lines = [
        line for line in out["port_log"].splitlines() if '"' in line and "HTTP/1.1" in line
    ]
    assert any('"GET ' in line for line in port_lines)
    writes = [
        ln for ln in port_lines if any(f'"{m} ' in ln for m in ("POST", "PUT", "PATCH", "DELETE"))
    ]
    assert writes == []
    assert 'outcome="write_not_mirrored"' in out["metrics"]
    # the admin side refuses anyone without the token
    assert out["metrics_anonymous"] == 401
    assert out["status_anonymous"] == 401
    # no credential anywhere it writes
    for text in (out["gateway_log"], json.dumps(results), out["capture"]):
        assert "parity-admin" not in text
        assert "parity-agent" not in text
        assert "Bearer ey" not in text
    assert out["capture"].count('"kind":"exchange"') > 50


def test_mutant_on_a_read_is_found_with_the_real_request(tmp_path: Path, seeded: Path) -> None:
    out = gateway_run(tmp_path, seeded, mutant="case-field-dropped")
    findings = _open(out["results"])
    hits = [f for f in findings if f["operation"] == "GET /api/cases/{id}"]
    assert hits, [(f["operation"], f["summary"]) for f in findings]
    step = hits[0]["example"]["steps"][0]
    assert step["request"]["method"] == "GET"
    assert step["request"]["path"].startswith("/api/cases/")
    assert "customerName" in json.dumps(hits[0]["example"]["diff"])
    assert out["results"]["verdict"] == "drift"
    # parity report renders the gateway's results like a run's
    from harness.cli import main

    results = tmp_path / "results" / "results.json"
    assert main(["report", str(results), "--out", str(tmp_path / "html")]) == 1
    assert "customerName" in (tmp_path / "html" / "parity.html").read_text()


@pytest.mark.timing  # kills the port mid-run
def test_port_killed_mid_run_clients_unaffected(tmp_path: Path, seeded: Path) -> None:
    out = gateway_run(tmp_path, seeded, kill_port=True, requests=120)
    assert out["exit"] == 0
    served = [json.loads(x) for x in out["gateway_log"].splitlines() if x.startswith('{"cid"')]
    assert len(served) >= 100
    assert all(s["status"] < 500 for s in served), [s for s in served if s["status"] >= 500]
    assert 'outcome="failed"' in out["metrics"]
    results = out["results"]
    assert any("the port failed" in w for w in results["warnings"]), results["warnings"]
    assert _open(results) == []


def _realtime_through(url: str) -> dict[str, Any]:
    """Through the gateway: an admin's socket gets ``ready`` and the event of a write made
    through the gateway; an anonymous socket gets the legacy's error and its close code."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ws_url = url.replace("http", "ws", 1) + "/api/realtime"
    login = httpx.post(
        url + "/api/auth/login",
        json={"email": "admin@example.test", "password": "parity-admin"},
        timeout=30,
    )
    token = login.json()["token"]
    seen: dict[str, Any] = {}
    auth = {"Authorization": f"Bearer {token}"}
    with connect(ws_url, additional_headers=auth, subprotocols=None, open_timeout=30) as ws:
        seen["ready"] = json.loads(ws.recv(timeout=30))
        created = httpx.post(
            url + "/api/alerts",
            json={"title": "through the gateway", "message": "ws", "severity": "warning"},
            headers=auth,
            timeout=30,
        )
        seen["created"] = created.status_code
        assert created.status_code == 201, created.text
        alert_id = created.json()["id"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # events of other writes may come first
            message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            event = message.get("event") or {}
            if event.get("kind") == "alert.created" and event.get("subjectId") == alert_id:
                seen["event"] = event
                break
    with connect(ws_url, open_timeout=30) as anonymous:
        seen["anonymous"] = json.loads(anonymous.recv(timeout=30))
        try:
            anonymous.recv(timeout=30)
        except ConnectionClosed as closed:
            seen["close"] = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else None
    return seen


def test_realtime_socket_passes_through_with_events_and_close_codes(
    tmp_path: Path, seeded: Path
) -> None:
    out = gateway_run(tmp_path, seeded, requests=20, before=_realtime_through)
    seen = out["before"]
    assert seen["ready"]["type"] == "ready", seen
    assert seen["ready"]["role"] == "admin"
    assert seen["created"] == 201
    assert "event" in seen, seen  # the write's event came through the gateway's socket
    assert seen["anonymous"]["error"] == "unauthorized"
    assert seen["close"] == (4401, "unauthorized")  # the legacy's code, not the gateway's
    assert out["exit"] == 0
    # both subscriptions are in the capture, as the traffic format records one: GET with the
    # upgrade, answer 101 with what the legacy pushed; no nonce, no credential
    records = [json.loads(line) for line in out["capture"].splitlines()]
    subs = [
        r
        for r in records
        if r.get("kind") == "exchange"
        and any(k == "upgrade" and v == "websocket" for k, v in r["request"]["headers"])
    ]
    # the two above, then the simulated callers' (half of their logins subscribe)
    assert len(subs) >= 2, [r["request"]["path"] for r in subs]
    frames = [[json.loads(m["text"]) for m in r["answer"]["messages"]] for r in subs]
    assert all(r["answer"]["status"] == 101 for r in subs)
    assert all(r["request"]["path"] == "/api/realtime" for r in subs)
    assert "sec-websocket-key" not in json.dumps(subs).lower()
    admin = frames[0]  # written when it closed: the first to close
    assert admin[0]["type"] == "ready"
    assert admin[0]["role"] == "admin"
    assert any((m.get("event") or {}).get("subjectId") == seen["event"]["subjectId"] for m in admin)
    assert subs[0]["caller"] is not None  # the admin's, keyed: replayed as the admin's role
    assert (
        frames[1] == [{"type": "error", "error": "unauthorized"}]
        or frames[1][0].get("error") == "unauthorized"
    ), frames[1]
    assert subs[1].get("caller") is None  # no credentials: replayed anonymous


def _unread_at(port: int) -> bool:
    """A connection to ``port`` on 127.0.0.1 holds bytes its server has not read yet
    (``/proc/net/tcp``: an ESTABLISHED socket on that local port with rx_queue > 0)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, queues = fields[1], fields[3], fields[4]
        mine = int(local.split(":")[1], 16) == port and state == "01"
        if mine and int(queues.split(":")[1], 16) > 0:
            return True
    return False


@pytest.mark.timing  # signals and a frozen upstream
def test_sigterm_drains_a_request_in_flight(tmp_path: Path, seeded: Path) -> None:
    """SIGTERM while a request is in flight: the gateway stops taking connections, waits for
    the answer (the legacy is frozen with SIGSTOP until the gateway is already shutting
    down), gives it to the client, and only then exits 0. Every wait is for an event."""
    import threading
    import urllib.parse

    db = tmp_path / "shared.db"
    db.write_bytes(seeded.read_bytes())
    with running("legacy", db, tmp_path) as legacy:
        listen = f"127.0.0.1:{free_port()}"
        cfg = _config(tmp_path, legacy.url, f"http://127.0.0.1:{free_port()}", listen)
        cfg.write_text(
            cfg.read_text().replace('default_mode = "shadow"', 'default_mode = "legacy"')
            + "drain_s = 60\n"
        )
        gw, gw_log = _start_gateway(cfg, tmp_path)
        legacy_port = urllib.parse.urlsplit(legacy.url).port
        assert legacy_port is not None
        answer: dict[str, Any] = {}
        try:
            url = f"http://{listen}"
            _wait(url + "/api/health", gw, gw_log)
            os.killpg(legacy.process.pid, signal.SIGSTOP)

            def call() -> None:
                answer["status"] = httpx.get(url + "/api/health", timeout=300).status_code

            client = threading.Thread(target=call)
            client.start()
            deadline = time.monotonic() + 120
            while not _unread_at(legacy_port):  # the event: the request waits at the legacy
                assert time.monotonic() < deadline, "the request never reached the legacy"
                time.sleep(0.02)
            gw.send_signal(signal.SIGTERM)
            host, port = listen.split(":")
            while True:  # the event: the gateway no longer takes connections
                assert time.monotonic() < deadline, gw_log.read_text()[-2000:]
                try:
                    with socket.create_connection((host, int(port)), timeout=1):
                        pass
                except OSError:
                    break
                time.sleep(0.02)
            assert gw.poll() is None, "the gateway exited with a request in flight"
            assert "status" not in answer
            os.killpg(legacy.process.pid, signal.SIGCONT)
            client.join(timeout=120)
            assert answer.get("status") == 200, answer
            assert gw.wait(timeout=120) == 0, gw_log.read_text()[-2000:]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(legacy.process.pid, signal.SIGCONT)
            stop(gw)


def _shadows(url: str, outcome: str) -> float:
    """The gateway's count of shadows with ``outcome``, every route (``/metrics``)."""
    text = httpx.get(url + "/metrics", headers={"x-parity-token": TOKEN}, timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("parity_gateway_shadows_total{") and f'outcome="{outcome}"' in line
    )


def _in_flight(url: str) -> int:
    status = httpx.get(url + "/_parity/status", headers={"x-parity-token": TOKEN}, timeout=30)
    return int(status.json()["shadows_in_flight"])


def _until(check: Callable[[], bool], what: str, log: Path, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}\n{log.read_text()[-2000:]}"
        time.sleep(0.05)


@pytest.mark.timing  # signals: the port frozen, then killed
def test_a_hung_then_dead_port_adds_nothing_to_the_clients_answers(
    tmp_path: Path, seeded: Path
) -> None:
    """Every route in shadow, the port frozen with SIGSTOP and a 30 s upstream timeout: each
    client is answered while every shadow sent so far still waits at the frozen port (the
    answers cannot have waited for the port's answer or its timeout); the port killed while
    frozen: the hung shadows fail, and so do the next ones, each counted as failed, while
    clients keep being answered. Every wait is for an event."""
    db = tmp_path / "shared.db"
    db.write_bytes(seeded.read_bytes())
    hung, dead = 12, 8
    with running("legacy", db, tmp_path) as legacy:
        port_proc, port_url, _ = _start_port(db, tmp_path, "")
        listen = f"127.0.0.1:{free_port()}"
        cfg = _config(tmp_path, legacy.url, port_url, listen)
        cfg.write_text(cfg.read_text() + "timeout_s = 30\nshadow_in_flight = 64\n")
        gw, gw_log = _start_gateway(cfg, tmp_path)
        url = f"http://{listen}"
        try:
            _wait(url + "/api/health", gw, gw_log)
            _until(lambda: _in_flight(url) == 0, "the start-up request's shadow done", gw_log)
            workers = [
                int(pid)
                for pid in (Path(f"/proc/{gw.pid}/task/{gw.pid}/children").read_text().split())
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
            ]
            assert len(workers) == 1, workers
            # the comparisons yield the CPU to the serving (worker_nice, default 10), once the
            # worker has started
            nicer = min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10)  # 19: the kernel's limit
            _until(
                lambda: os.getpriority(os.PRIO_PROCESS, workers[0]) == nicer,
                "the worker reniced",
                gw_log,
            )
            failed_before = _shadows(url, "failed")
            os.killpg(port_proc.pid, signal.SIGSTOP)
            statuses = []
            for i in range(hung):
                got = httpx.get(url + "/api/health", timeout=120)
                statuses.append(got.status_code)
                # answered, and every shadow so far is still at the frozen port
                assert _in_flight(url) == i + 1, gw_log.read_text()[-2000:]
            assert statuses == [200] * hung
            assert _shadows(url, "failed") == failed_before  # none has timed out yet
            os.killpg(port_proc.pid, signal.SIGKILL)  # dead while frozen: its sockets reset
            port_proc.wait(timeout=60)
            _until(lambda: _in_flight(url) == 0, "the hung shadows ended", gw_log)
            assert _shadows(url, "failed") == failed_before + hung
            for _ in range(dead):  # the port gone: refused at once, counted, clients served
                assert httpx.get(url + "/api/health", timeout=120).status_code == 200
            _until(lambda: _in_flight(url) == 0, "the dead port's shadows ended", gw_log)
            assert _shadows(url, "failed") == failed_before + hung + dead
            gw.send_signal(signal.SIGTERM)
            assert gw.wait(timeout=120) == 0, gw_log.read_text()[-2000:]
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(port_proc.pid, signal.SIGCONT)
            stop(gw)
            stop(port_proc)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert any("the port failed" in w for w in results["warnings"]), results["warnings"]
