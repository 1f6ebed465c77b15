"""A gateway killed with SIGKILL leaves nothing behind: its comparison worker (a process of
its own) and its temporary files go with it, as a killed ``parity run``'s do (the reaper's
watcher). The upstreams need not answer: the gateway starts without them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.servers import ROOT, free_port, marked_processes

DEADLINE_S = 120.0  # generous: a loaded 2-core machine
TOKEN = "gw-kill-token-0b7d"


@pytest.mark.timing
def test_sigkill_of_the_gateway_leaves_no_worker_and_no_temporary_file(tmp_path: Path) -> None:
    listen = f"127.0.0.1:{free_port()}"
    config = tmp_path / "parity.toml"
    config.write_text(
        f'contract = "{ROOT / "contracts" / "openapi.yaml"}"\n'
        f'\n[gateway]\nlisten = "{listen}"\nlegacy = "http://127.0.0.1:{free_port()}"\n'
        f'candidate = "http://127.0.0.1:{free_port()}"\ndefault_mode = "shadow"\n'
        f'results = "{tmp_path / "results"}"\ncapture = "{tmp_path / "capture.jsonl"}"\n'
        'token_env = "GW_KILL_TOKEN"\n'
    )
    mark = uuid.uuid4().hex
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "PARITY_TEST_MARK": mark,
        "PARITY_STATE_DIR": str(tmp_path / "state"),
        "TMPDIR": str(tmp),
        "GW_KILL_TOKEN": TOKEN,
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as out:
        gateway = subprocess.Popen(
            [sys.executable, "-m", "harness", "gateway", "--config", str(config)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the event: the admin side answers (the worker is started before it)
            assert gateway.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            with contextlib.suppress(httpx.HTTPError):
                status = httpx.get(
                    f"http://{listen}/_parity/status", headers={"x-parity-token": TOKEN}
                )
                if status.status_code == 200:
                    break
            time.sleep(0.05)  # a poll interval, not a guess
        before = marked_processes(mark)
        assert len(before) >= 2, before  # the gateway and its comparison worker (at least)
        gateway.kill()
        gateway.wait(timeout=DEADLINE_S)
        killed = time.monotonic()
        left = marked_processes(mark)
        while left and time.monotonic() < killed + DEADLINE_S:
            time.sleep(0.02)  # a poll interval: the event is the last marked process gone
            left = marked_processes(mark)
        print(
            f"gateway SIGKILL: {len(before)} processes gone after {time.monotonic() - killed:.2f}s"
        )
        assert not left, [Path(f"/proc/{p}/cmdline").read_bytes() for p in left]
        leftovers = [p.name for p in tmp.iterdir()]
        assert not leftovers, leftovers
    finally:
        for pid in marked_processes(mark):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
