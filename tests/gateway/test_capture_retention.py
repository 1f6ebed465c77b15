"""``[traffic] retention_bytes`` / ``retention_days`` bound the gateway's capture: past the
size the oldest exchanges go (the header stays); without them everything is kept."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from harness.gateway.worker import WorkerState
from harness.setup.config import ParityConfig, load_config
from harness.traffic.capture import read_capture
from tests.servers import ROOT


def _config(tmp: Path, **traffic: Any) -> ParityConfig:
    config = load_config(ROOT / "contracts" / "parity.toml")
    gw = config.gateway.model_copy(
        update={"capture": str(tmp / "capture.jsonl"), "capture_per_caller": 0}
    )
    return config.model_copy(
        update={"gateway": gw, "traffic": config.traffic.model_copy(update=traffic)}
    )


def _job(n: int) -> dict[str, Any]:
    body = b'{"title": "' + b"x" * 200 + b'"}'
    return {
        "kind": "exchange",
        "route": "*",
        "mode": "legacy",
        "operation": "GET /api/cases",
        "method": "GET",
        "path": f"/api/cases/{n}",
        "query": [],
        "headers": [("accept", "application/json")],
        "body": b"",
        "identity": None,
        "legacy": {
            "status": 200,
            "headers": [("content-type", "application/json")],
            "body": body,
            "elapsed_ms": 1.0,
        },
        "candidate": None,
        "started": time.time(),
        "capture": True,
    }


def _fill(config: ParityConfig) -> None:
    state = WorkerState(config, None)
    for n in range(60):
        state.handle(_job(n))
    state.close()


def test_retention_bytes_keeps_the_newest(tmp_path: Path) -> None:
    _fill(_config(tmp_path, retention_bytes=6000))
    path = tmp_path / "capture.jsonl"
    assert path.stat().st_size <= 6000
    capture = read_capture(path)
    seqs = [ex.seq for ex in capture.exchanges]
    assert 0 < len(seqs) < 60
    assert seqs[-1] == 59  # the newest stays, the oldest went
    assert seqs == list(range(60 - len(seqs), 60))


def test_no_retention_keeps_everything(tmp_path: Path) -> None:
    _fill(_config(tmp_path))
    assert len(read_capture(tmp_path / "capture.jsonl").exchanges) == 60
