"""Locust as the simulator's load driver: each Locust user is one of the seed's accounts
running the simulator's scripts (``harness.traffic.simulator``), concurrently, every exchange
written to one capture that ``parity run --traffic`` replays.

    PARITY_CAPTURE_OUT=load.jsonl locust -f tests/traffic/locustfile.py --headless \\
        -u 4 -r 4 --run-time 30s --host http://127.0.0.1:3000

``PARITY_SIM_SEED`` seeds the scripts (default 1). Locust counts each exchange in its own
statistics under the path the script sent."""

from __future__ import annotations

import itertools
import os
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from locust import User, between, events, task

from harness.traffic.capture import CaptureWriter, Header, Pseudonymizer, Redactor
from harness.traffic.simulator import ALL_USERS, Simulator, retention_default
from harness.traffic.simulator import User as Account

_WRITER: CaptureWriter | None = None
_PSEUDONYMS = Pseudonymizer.from_env()
_ACCOUNTS = itertools.count()


@events.test_start.add_listener
def _open(environment: Any, **_kwargs: Any) -> None:
    global _WRITER
    out = Path(os.environ.get("PARITY_CAPTURE_OUT", "locust-capture.jsonl"))
    out.unlink(missing_ok=True)
    header = Header(
        created=datetime.now(UTC),
        snapshot=os.environ.get("PARITY_CAPTURE_SNAPSHOT", "seed 42"),
        key_id=_PSEUDONYMS.key_id,
        source="locust",
    )
    _WRITER = CaptureWriter(out, header, Redactor.build(_PSEUDONYMS), retention_default())
    _WRITER.__enter__()


@events.test_stop.add_listener
def _close(environment: Any, **_kwargs: Any) -> None:
    if _WRITER is not None:
        _WRITER.__exit__(None, None, None)


class SimulatedUser(User):
    """One seeded account; its next action is the simulator's, from its own seeded rng."""

    wait_time = between(0.0, 0.05)

    def on_start(self) -> None:
        assert _WRITER is not None
        assert self.host
        n = next(_ACCOUNTS)
        email, password, role = ALL_USERS[n % len(ALL_USERS)]
        seed = int(os.environ.get("PARITY_SIM_SEED", "1"))
        self.sim = Simulator(self.host, _WRITER, _PSEUDONYMS, seed, [(email, password, role)])
        self.account: Account = self.sim.users[0]
        self.account.rng = random.Random(f"{seed}:{n}:{email}")

        def observe(method: str, path: str, ms: float, resp: httpx.Response) -> None:
            self.environment.events.request.fire(
                request_type=method,
                name=path,
                response_time=ms,
                response_length=len(resp.content),
                exception=None if resp.status_code < 500 else RuntimeError(resp.status_code),
                context={},
            )

        self.sim.observe = observe

    def on_stop(self) -> None:
        self.sim.close()  # its realtime subscription, recorded as it closes
        self.sim.client.close()

    @task
    def act(self) -> None:
        self.sim.step(self.account)
