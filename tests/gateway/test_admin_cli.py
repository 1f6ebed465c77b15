"""``parity gateway shift --offline``: validated, saved, logged; canary on separate
databases is refused with exit 2 and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import main
from harness.gateway.state import log_path
from tests.servers import ROOT


def _config(tmp: Path, databases: str) -> Path:
    text = (ROOT / "contracts" / "parity.toml").read_text()
    text = text.replace(
        'contract = "openapi.yaml"', f'contract = "{ROOT / "contracts" / "openapi.yaml"}"'
    ).replace('file = "invariants.py"', f'file = "{ROOT / "contracts" / "invariants.py"}"')
    text += (
        f'\n[gateway]\nlegacy = "http://127.0.0.1:9"\ncandidate = "http://127.0.0.1:9"\n'
        f'databases = "{databases}"\n[gateway.routes]\n"GET /api/cases" = "shadow"\n'
        f'[gateway.shift]\nstate_file = "{tmp / "state.json"}"\n'
        '[gateway.shift.schedules."GET /api/cases"]\nsteps = [10, 50, 100]\n'
    )
    path = tmp / "parity.toml"
    path.write_text(text)
    return path


def test_offline_shift_and_promote(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = _config(tmp_path, "shared")
    base = ["gateway", "shift", "--config", str(cfg), "--offline", "--who", "ana"]
    assert main([*base, "GET /api/cases", "canary", "25", "--reason", "try 25"]) == 0
    assert json.loads(capsys.readouterr().out)["after"] == ["canary", 25.0]
    promote = ["gateway", "promote", "--config", str(cfg), "--offline", "GET /api/cases"]
    assert main([*promote, "--reason", "schedule it", "--who", "bo"]) == 0
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["routes"]["GET /api/cases"]["percent"] == 10.0
    assert state["routes"]["GET /api/cases"]["schedule"]["index"] == 0
    log = log_path(tmp_path / "state.json").read_text().splitlines()
    assert [json.loads(line)["who"] for line in log] == ["ana", "bo"]


def test_canary_refused_on_separate_databases(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = _config(tmp_path, "separate")
    argv = ["gateway", "shift", "--config", str(cfg), "--offline", "GET /api/cases"]
    assert main([*argv, "canary", "10", "--reason", "no"]) == 2
    assert 'databases = "separate"' in capsys.readouterr().err
    assert not (tmp_path / "state.json").exists()


def test_shift_without_a_running_gateway_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = _config(tmp_path, "shared")
    monkeypatch.setenv("PARITY_GATEWAY_TOKEN", "t")
    argv = ["gateway", "routes", "--config", str(cfg), "--url", "http://127.0.0.1:9"]
    assert main(argv) == 2
    assert "no gateway answers" in capsys.readouterr().err
