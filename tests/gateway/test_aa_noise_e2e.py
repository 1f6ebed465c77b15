"""A/A noise on live traffic (Diffy's approach): with a second legacy instance configured, a
place where the two legacies' answers differ on a request is noise, not a finding against
the port; a real drift on the same answers is still found. Three real instances of the
fixture pair's service on one shared SQLite file: the legacy and its twin add a random
``servedBy`` id to item reads (``readnoise``); the port does too and also upper-cases names
(``value``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.gateway.test_gateway_e2e import TOKEN, _wait
from tests.gateway.test_unsafe_e2e import _gateway
from tests.servers import ROOT, free_port, stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAIR = ROOT / "tests" / "fixtures" / "pair"


@contextmanager
def _service(db: Path, tmp: Path, drift: str) -> Iterator[str]:
    port = free_port()
    log = tmp / f"svc-{port}.log"
    env = {**os.environ, "PORT": str(port), "DATABASE_PATH": str(db), "PAIR_DRIFT": drift}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=PAIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        _wait(url + "/health", proc, log)
        yield url
    finally:
        stop(proc)


def test_aa_noise_is_suppressed_and_a_real_drift_still_found(tmp_path: Path) -> None:
    db = tmp_path / "pair.db"
    subprocess.run(
        [sys.executable, "seed.py", "--seed", "7"],
        cwd=PAIR,
        env={**os.environ, "DATABASE_PATH": str(db)},
        check=True,
        capture_output=True,
    )
    with ExitStack() as stack:
        legacy = stack.enter_context(_service(db, tmp_path, "readnoise"))
        twin = stack.enter_context(_service(db, tmp_path, "readnoise"))
        port = stack.enter_context(_service(db, tmp_path, "readnoise,value"))
        text = (PAIR / "parity.toml").read_text()
        text = text.replace('contract = "openapi.yaml"', f'contract = "{PAIR / "openapi.yaml"}"')
        text = text.replace('file = "invariants.py"', f'file = "{PAIR / "invariants.py"}"')
        text += (
            f'\n[gateway]\nlisten = "127.0.0.1:{free_port()}"\nlegacy = "{legacy}"\n'
            f'legacy_secondary = "{twin}"\ncandidate = "{port}"\ndefault_mode = "shadow"\n'
            f'results = "{tmp_path / "results"}"\ntoken_env = "GW_TEST_TOKEN"\n'
        )
        cfg = tmp_path / "parity.toml"
        cfg.write_text(text)
        with _gateway(cfg, tmp_path) as (url, _log), httpx.Client(base_url=url) as client:
            login = client.post("/login", json={"username": "admin", "password": "admin-pw"})
            assert login.status_code == 200, login.text
            auth = {"authorization": f"Bearer {login.json()['token']}"}
            for n in range(1, 21):
                assert client.get(f"/items/{n}", headers=auth).status_code == 200
            status = client.get("/_parity/status", headers={"x-parity-token": TOKEN}).json()
            assert status["dropped"] == {}
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    opened = [(f["operation"], f["location"]) for f in results["findings"] if not f["accepted"]]
    # the real drift is found ...
    assert ("GET /items/{id}", "body:$.name") in opened, opened
    # ... the field that varies on its own between two legacies is not
    assert not any("servedBy" in loc for _, loc in opened), opened
    noise = [n for n in results["noise"] if "servedBy" in n["location"]]
    assert noise, results["noise"]
    assert noise[0]["suppressed"] == 20
    assert noise[0]["evidence"]
