"""``[external] env``: the services' setup and reset scripts get the variables it names."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.pair.services import run_reset_command
from harness.setup.config import load_config


def test_external_env_reaches_the_reset_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARITY_TEST_SECRET", "s3cret")
    out = tmp_path / "seen"
    script = f"import os; open({str(out)!r}, 'w').write(os.environ['APP_TOKEN'])"
    config_path = tmp_path / "p.toml"
    config_path.write_text(
        f"[external]\nreset_command = [{sys.executable!r}, '-c', {script!r}]\n"
        'env = { APP_TOKEN = "t-${PARITY_TEST_SECRET}" }\n'
    )
    ext = load_config(config_path).external
    assert ext.reset_command is not None
    run_reset_command(ext.reset_command, tmp_path, 30, ext.env)
    assert out.read_text() == "t-s3cret"
