"""Several gateway instances: each writes results and a capture whose names carry its
``[gateway] instance``, and ``parity gateway merge`` joins them into one result set (findings
folded, counts added) and one capture in time order (a valid header, seq renumbered)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.gateway import cli as gateway_cli
from harness.gateway.instance import capture_path, check_name, instance_name, results_dir
from harness.gateway.merge import merge_gateway_dirs
from harness.gateway.results import build_results
from harness.gateway.worker import WorkerState
from harness.reporting.results import Results, load_results
from harness.setup.config import ParityConfig, load_config
from harness.setup.gateway import GatewayConfig
from harness.traffic.capture import read_capture
from tests.servers import ROOT

OP = "GET /api/cases/{id}"
T0 = time.time() - 600  # recent: no retention rule drops them


def _config(tmp: Path, instance: str) -> ParityConfig:
    config = load_config(ROOT / "contracts" / "parity.toml")
    capture = capture_path(tmp / "capture.jsonl", instance)
    gw = config.gateway.model_copy(
        update={
            "instance": instance,
            "capture": str(capture),
            "capture_per_caller": 0,
            "legacy": "http://127.0.0.1:9",
            "candidate": "http://127.0.0.1:9",
            "compare_only": True,
        }
    )
    return config.model_copy(update={"gateway": gw})


def _side(body: dict[str, Any], ms: float) -> dict[str, Any]:
    return {
        "status": 200,
        "headers": [("content-type", "application/json")],
        "body": json.dumps(body).encode(),
        "elapsed_ms": ms,
    }


def _job(n: int, started: float, *, drift: bool, write: bool = False) -> dict[str, Any]:
    case = {"id": n, "title": f"case {n}", "customerName": f"customer {n}"}
    port = {k: v for k, v in case.items() if not (drift and k == "customerName")}
    return {
        "kind": "exchange",
        "route": "*",
        "mode": "compare-only",
        "operation": "POST /api/cases" if write else OP,
        "method": "POST" if write else "GET",
        "path": "/api/cases" if write else f"/api/cases/{n}",
        "query": [],
        "headers": [("accept", "application/json")],
        "body": b'{"title": "new"}' if write else b"",
        "identity": f"caller-{n % 3}",
        "legacy": None if write else _side(case, 2.0 + n),
        "candidate": None if write else _side(port, 3.0 + n),
        "started": started,
        "capture": True,
        "legacy_url": "http://127.0.0.1:9",
        "candidate_url": "http://127.0.0.1:9",
        "raced": False,
    }


def _instance(tmp: Path, name: str, jobs: list[dict[str, Any]]) -> Path:
    """One instance's worker fed ``jobs``; its results.json written where serve puts it."""
    config = _config(tmp, name)
    state = WorkerState(config, None)
    for job in jobs:
        state.handle(job)
    state.close()
    out = results_dir(tmp / "results", name)
    build_results(state).write(out / "results.json")
    return out


@pytest.fixture
def two(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Instance a: 3 drifting reads, 2 agreeing, a write; b: 2 drifting, 1 agreeing, a
    write; their exchanges interleaved in time."""
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "k" * 32)
    a = [
        _job(n, T0 + 2 * n, drift=n < 3, write=n == 5)
        for n in range(6)  # 0,1,2 drift; 3,4 agree; 5 a write
    ]
    b = [_job(10 + n, T0 + 2 * n + 1, drift=n < 2, write=n == 3) for n in range(4)]
    return _instance(tmp_path, "a", a), _instance(tmp_path, "b", b)


def test_each_instance_writes_its_own_files(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = two
    assert (a / "results.json").is_file()
    assert (b / "results.json").is_file()
    assert a != b
    ra, rb = load_results(a / "results.json"), load_results(b / "results.json")
    assert ra.gateway is not None
    assert rb.gateway is not None
    assert (ra.gateway.instances, rb.gateway.instances) == (["a"], ["b"])
    assert ra.gateway.captures == [str(tmp_path / "capture-a.jsonl")]
    assert ra.run_id.startswith("gateway-a-")
    assert rb.run_id.startswith("gateway-b-")
    assert len(read_capture(tmp_path / "capture-a.jsonl").exchanges) == 6
    assert len(read_capture(tmp_path / "capture-b.jsonl").exchanges) == 4


def _open(r: Results) -> list[Any]:
    return [f for f in r.findings if not f.accepted]


def test_merge_folds_findings_sums_counts_and_orders_the_capture(
    two: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = two
    ra, rb = load_results(a / "results.json"), load_results(b / "results.json")
    out = tmp_path / "merged"
    merged, exchanges = merge_gateway_dirs([a, b], out)
    assert merged.verdict == "drift"
    assert merged.errors == []
    assert (out / "results.json").is_file()
    assert load_results(out / "results.json") == merged

    # one finding per place: the instances' ids agree, their counts add
    assert {f.id for f in _open(ra)} == {f.id for f in _open(rb)}
    for f in _open(merged):
        mine = [x for x in _open(ra) + _open(rb) if x.id == f.id]
        assert len(mine) == 2
        assert f.count == sum(x.count for x in mine)
    dropped = next(f for f in _open(merged) if "customerName" in f.location)
    assert dropped.count == 5  # 3 on a, 2 on b
    assert dropped.operation == OP

    op = next(o for o in merged.operations if o.id == OP)
    assert (op.cases, op.agreeing) == (8, 3)
    assert op.status_codes["legacy"] == {"200": 8}
    assert merged.gateway is not None
    (panel,) = merged.gateway.routes
    assert (panel.requests, panel.compared, panel.agreeing, panel.differing) == (8, 8, 3, 5)
    assert panel.latency_ms["legacy"].max == 2.0 + 12  # b's slowest read (case 12)
    assert merged.gateway.instances == ["a", "b"]
    assert merged.gateway.captured == 10
    assert merged.stats.exchanges == ra.stats.exchanges + rb.stats.exchanges

    # the capture: every exchange once, in the order they started, numbered again
    assert exchanges == 10
    assert merged.gateway.captures == [str((out / "capture.jsonl").resolve())]
    capture = read_capture(out / "capture.jsonl", keep_going=False)
    started = [ex.timings.started for ex in capture.exchanges]
    assert started == sorted(started)
    assert [ex.seq for ex in capture.exchanges] == list(range(10))
    paths = [ex.request.path for ex in capture.exchanges]
    assert paths[:4] == ["/api/cases/0", "/api/cases/10", "/api/cases/1", "/api/cases/11"]
    heads = [read_capture(tmp_path / f"capture-{n}.jsonl").header for n in "ab"]
    assert capture.header.key_id == heads[0].key_id == heads[1].key_id
    assert capture.header.created == min(h.created for h in heads)
    assert capture.header.redacted == heads[0].redacted
    assert capture.header.source == "gateway"
    writes = [ex for ex in capture.exchanges if ex.request.method == "POST"]
    assert len(writes) == 2
    assert all(ex.answer is None for ex in writes)


def test_merge_cli(
    two: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli"
    code = gateway_cli.main(["merge", str(tmp_path / "results"), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 1, printed  # drift
    assert "merged 2 gateway instances (a, b): drift" in printed
    assert "10 exchanges" in printed
    assert load_results(out / "results.json").verdict == "drift"


def test_the_same_results_twice_is_an_error(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two
    copy = tmp_path / "copy"
    shutil.copytree(a, copy)
    merged, _ = merge_gateway_dirs([a, copy], tmp_path / "m", captures=[])
    assert merged.verdict == "error"
    assert merged.exit_code == 2
    assert any("twice" in e.message for e in merged.errors)


def test_a_run_that_is_not_a_gateway_s_is_an_error(two: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = two
    plain = load_results(a / "results.json").model_copy(update={"gateway": None, "run_id": "r1"})
    plain.write(tmp_path / "plain" / "results.json")
    merged, _ = merge_gateway_dirs([a, tmp_path / "plain"], tmp_path / "m", captures=[])
    assert merged.verdict == "error"
    assert any("not a gateway" in e.message for e in merged.errors)


def test_captures_under_different_keys_are_not_merged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "k" * 32)
    a = _instance(tmp_path, "a", [_job(0, T0, drift=False)])
    monkeypatch.setenv("PARITY_TRAFFIC_KEY", "z" * 32)
    b = _instance(tmp_path, "b", [_job(1, T0 + 1, drift=False)])
    merged, exchanges = merge_gateway_dirs([a, b], tmp_path / "m")
    assert exchanges is None
    assert merged.verdict == "error"
    assert any("pseudonym keys" in e.message for e in merged.errors)
    assert not (tmp_path / "m" / "capture.jsonl").exists()


def test_instance_names_and_paths() -> None:
    assert instance_name(GatewayConfig()) is None  # unset: one gateway, paths as given
    assert instance_name(GatewayConfig(instance="edge-1")) == "edge-1"
    auto = instance_name(GatewayConfig(instance="auto"), host="web 3.example.org", pid=42)
    assert auto == "web-3-42"
    assert capture_path(Path("/x/capture.jsonl"), "edge-1") == Path("/x/capture-edge-1.jsonl")
    assert capture_path(Path("/x/capture.jsonl"), None) == Path("/x/capture.jsonl")
    assert results_dir(Path("/r"), "edge-1") == Path("/r/edge-1")
    with pytest.raises(ValueError, match="instance"):
        GatewayConfig(instance="../escape")
    with pytest.raises(HarnessError):
        check_name("a/b")


def test_the_report_names_the_merged_instances(two: tuple[Path, Path], tmp_path: Path) -> None:
    from harness.reporting.html import render_html

    merged, _ = merge_gateway_dirs(list(two), tmp_path / "m")
    page = render_html(merged)
    assert "Gateway instances: a, b" in page
