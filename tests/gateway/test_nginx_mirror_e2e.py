"""Issue 30, proof 6: ``parity gateway --compare-only`` fed by a real NGINX (Debian's
``nginx-light``, the ``mirror`` directive) in front of the shipped pair finds the same drift
as the gateway does itself, and nothing when the port agrees.

NGINX runs as an unprivileged foreground process (``daemon off``) with the ``nginx.conf``
of docs/gateway-compare-only.md, read from that file, its ports replaced by the test's:
every path (pid, logs, temp directories) is under its prefix. When the test itself runs as
root, NGINX is started as ``nobody`` in a directory of its own (a root-owned pytest
directory is closed to it). The drift run mirrors to two gateway instances (two ``server``
lines in ``upstream parity``), each writing its own results and capture
(``--instance``), and ``parity gateway merge`` joins them. Without NGINX the module skips,
except under ``CI=true``, where it fails (.ci/run installs ``nginx-light``)."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.gateway.writes import WriteCounters
from tests.gateway.test_gateway_e2e import TOKEN, _config, _start_port, _wait
from tests.servers import ROOT, free_port, legacy_built, running, seed, stop

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not legacy_built(), reason="legacy not built (npm run build)"),
]

DOC = ROOT / "docs" / "gateway-compare-only.md"
DRIFT_OP = "GET /api/cases/{id}"


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


@pytest.fixture(scope="module")
def nginx() -> str:
    path = nginx_binary()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("NGINX is required in CI (.ci/run installs Debian's nginx-light)")
        pytest.skip("NGINX not installed (apt-get install nginx-light)")
    return path


def documented_config() -> str:
    """The ``nginx.conf`` block of docs/gateway-compare-only.md, as a reader copies it."""
    text = DOC.read_text()
    section = text[text.index("## NGINX (`mirror` directive)") :]
    block = re.search(r"```nginx\n(.*?)```", section, re.S)
    assert block is not None, "no nginx block in the NGINX section of the doc"
    return block.group(1)


def nginx_config(listen: int, legacy: str, gateways: list[str]) -> str:
    """The documented config with the test's ports: the client listener, the legacy, and
    one ``server`` line per gateway instance in ``upstream parity``."""
    text = documented_config()
    for old, new in (
        ("listen 127.0.0.1:8080;", f"listen 127.0.0.1:{listen};"),
        ("server 127.0.0.1:3000;", f"server {legacy.removeprefix('http://')};"),
        (
            "        server 127.0.0.1:8090;\n",
            "".join(f"        server {g.removeprefix('http://')};\n" for g in gateways),
        ),
    ):
        assert old in text, f"the documented config changed: no {old!r}"
        text = text.replace(old, new, 1)
    return text


@contextmanager
def nginx_in_front(binary: str, tmp: Path, legacy: str, gateways: list[str]) -> Iterator[Any]:
    """NGINX in the foreground on 127.0.0.1, mirroring to ``gateways``; yields (url, prefix)
    and stops it by its process group."""
    port = free_port()
    root = os.geteuid() == 0
    # as root: a directory of its own for the unprivileged user (tmp is root's, mode 0700)
    prefix = Path(tempfile.mkdtemp(prefix="parity-nginx-")) if root else tmp / "nginx"
    prefix.mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(nginx_config(port, legacy, gateways))
    user: dict[str, Any] = {}
    if root:
        nobody = pwd.getpwnam("nobody")
        os.chown(prefix, nobody.pw_uid, nobody.pw_gid)
        user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
    proc = subprocess.Popen(
        [binary, "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "error.log"],
        cwd=prefix,
        stdout=subprocess.DEVNULL,
        stderr=(prefix / "stderr.log").open("wb"),
        start_new_session=True,
        **user,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # until its port answers (through it, the legacy's health)
            if proc.poll() is not None:
                logs = [(prefix / n) for n in ("error.log", "stderr.log")]
                pytest.fail("nginx exited: " + " ".join(p.read_text() for p in logs if p.exists()))
            try:
                if httpx.get(url + "/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (prefix / "error.log").read_text()
            time.sleep(0.2)
        yield url, prefix
    finally:
        stop(proc)
        for name in ("access.log", "error.log"):  # kept beside the test's other logs
            with contextlib.suppress(OSError):
                shutil.copy(prefix / name, tmp / f"nginx-{name}")
        if root:
            shutil.rmtree(prefix, ignore_errors=True)


@contextmanager
def gateway(cfg: Path, tmp: Path, instance: str | None) -> Iterator[str]:
    """``parity gateway --compare-only`` on a port of its own, named ``instance``."""
    listen = f"127.0.0.1:{free_port()}"
    log = tmp / f"gateway-{instance or 'single'}.log"
    env = {**os.environ, "GW_TEST_TOKEN": TOKEN, "PARITY_TRAFFIC_KEY": "k" * 32}
    argv = [sys.executable, "-m", "harness", "gateway", "--config", str(cfg), "--listen", listen]
    argv += ["--compare-only", *(["--instance", instance] if instance else [])]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait(f"http://{listen}/api/health", proc, log)
        yield f"http://{listen}"
    finally:
        stop(proc)  # SIGTERM: drains, writes results.json and flushes the capture


def simulate(url: str, tmp: Path, requests: int = 120) -> None:
    sim = subprocess.run(
        [
            *(sys.executable, "-m", "harness.traffic.simulator", "--url", url),
            *("--seed", "7", "--requests", str(requests), "--out", str(tmp / "sim.jsonl")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert sim.returncode == 0, sim.stderr


def through_nginx(
    binary: str, tmp: Path, seeded: Path, mutant: str, instances: list[str | None]
) -> dict[str, Any]:
    """The shared-database pair, the port with ``mutant``, one gateway per instance behind
    NGINX's mirror, the simulator through NGINX."""
    db = tmp / "shared.db"
    db.write_bytes(seeded.read_bytes())
    out: dict[str, Any] = {}
    with running("legacy", db, tmp) as legacy:
        port_proc, port_url, port_log = _start_port(db, tmp, mutant)
        try:
            cfg = _config(tmp, legacy.url, port_url, "127.0.0.1:1")  # --listen per instance
            if len(instances) > 1:  # each sees the writes the others were mirrored
                text = cfg.read_text().replace(
                    "[gateway]\n", f'[gateway]\nshared_writes = "{tmp / "writes.bin"}"\n', 1
                )
                cfg.write_text(text)
            with contextlib.ExitStack() as gateways:
                urls = [gateways.enter_context(gateway(cfg, tmp, name)) for name in instances]
                with nginx_in_front(binary, tmp, legacy.url, urls) as (url, _):
                    simulate(url, tmp)
        finally:
            stop(port_proc)
        out["port_log"] = port_log.read_text()
    out["access"] = (tmp / "nginx-access.log").read_text().splitlines()
    return out


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nginxseed") / "seed.db"
    seed(path)
    return path


def _open(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in results["findings"] if not f["accepted"]]


def _read(path: Path) -> dict[str, Any]:
    assert path.is_file(), f"{path} was not written"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def test_nginx_mirror_to_two_instances_finds_the_drift_and_merges(
    nginx: str, tmp_path: Path, seeded: Path
) -> None:
    out = through_nginx(nginx, tmp_path, seeded, "case-field-dropped", ["gw1", "gw2"])
    assert len(out["access"]) >= 120  # every client request went through NGINX

    # each instance wrote its own results and capture, and each got part of the mirror
    per: dict[str, dict[str, Any]] = {}
    captured = mirrored_writes = 0
    for name in ("gw1", "gw2"):
        per[name] = _read(tmp_path / "results" / name / "results.json")
        assert per[name]["gateway"]["instances"] == [name]
        assert per[name]["stats"]["exchanges"] > 0, f"{name} got no mirrored request"
        capture = [
            json.loads(x) for x in (tmp_path / f"capture-{name}.jsonl").read_text().splitlines()
        ]
        assert capture[0]["kind"] == "header"
        captured += len(capture) - 1
        # NGINX's copies: the writes are captured with the X-Request-Id NGINX set
        writes = [x for x in capture[1:] if x["request"]["method"] != "GET"]
        assert writes, f"{name}: no write captured"
        mirrored_writes += len(writes)
        ids = [v for x in writes for k, v in x["request"]["headers"] if k == "x-request-id"]
        assert ids, writes[0]["request"]["headers"]
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in ids), ids
    assert not (tmp_path / "capture.jsonl").exists()  # no unnamed file beside them

    merge = subprocess.run(
        [
            *(sys.executable, "-m", "harness", "gateway", "merge", str(tmp_path / "results")),
            *("--out", str(tmp_path / "merged")),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert merge.returncode == 1, merge.stdout + merge.stderr  # drift
    merged = _read(tmp_path / "merged" / "results.json")
    assert merged["verdict"] == "drift"
    assert sorted(merged["gateway"]["instances"]) == ["gw1", "gw2"]
    hits = [f for f in _open(merged) if f["operation"] == DRIFT_OP]
    assert hits, [(f["operation"], f["summary"]) for f in _open(merged)]
    # [gateway] shared_writes: both instances counted every write mirrored to either in the
    # one file, so a read on one that straddles a write through the other is re-read
    # (tests/gateway/test_writes.py; an e2e run cannot force that timing)
    counts = WriteCounters(tmp_path / "writes.bin").snapshot()[2:]
    assert counts == (mirrored_writes, mirrored_writes), (counts, mirrored_writes)
    step = hits[0]["example"]["steps"][0]
    assert step["request"]["method"] == "GET"
    assert step["request"]["path"].startswith("/api/cases/")
    assert "customerName" in json.dumps(hits[0]["example"]["diff"])
    for f in hits:  # folded: one finding per place, the instances' counts added
        parts = [g["count"] for r in per.values() for g in r["findings"] if g["id"] == f["id"]]
        assert f["count"] == sum(parts), (f["id"], parts)
    lines = (tmp_path / "merged" / "capture.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["kind"] == "header"
    exchanges = [json.loads(x) for x in lines[1:]]
    assert len(exchanges) == captured
    assert [x["seq"] for x in exchanges] == list(range(captured))
    started = [x["timings"]["started"] for x in exchanges]
    assert started == sorted(started)


def test_nginx_mirror_with_an_agreeing_port_is_quiet(
    nginx: str, tmp_path: Path, seeded: Path
) -> None:
    through_nginx(nginx, tmp_path, seeded, "", [None])
    results = _read(tmp_path / "results" / "results.json")  # unnamed: the paths as given
    panel = {r["route"]: r for r in results["gateway"]["routes"]}
    assert sum(r["compared"] for r in panel.values()) > 30, panel
    assert _open(results) == [], [(f["operation"], f["summary"]) for f in _open(results)]
    assert all(r["mode"] == "compare-only" for r in panel.values() if r["compared"])
