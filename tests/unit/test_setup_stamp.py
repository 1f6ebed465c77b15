"""``[external] setup_command`` with ``setup_inputs``: run once, skipped while the stamp of the
command and its files matches, run again when either changes; a failure leaves no stamp."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.pair.services import SETUP_STAMP, run_setup_command
from harness.setup.config import ExternalConfig

# appends one line to runs.log per run; exits 3 when the file FAIL exists
SCRIPT = (
    "import pathlib, sys; "
    "pathlib.Path('runs.log').open('a').write('run\\n'); "
    "sys.exit(3 if pathlib.Path('FAIL').exists() else 0)"
)


def _ext(tmp_path: Path, *, extra: str = "", inputs: list[str] | None = None) -> ExternalConfig:
    return ExternalConfig(
        setup_command=[sys.executable, "-c", SCRIPT + extra],
        setup_inputs=["seed.sql", "fixtures/*.json"] if inputs is None else inputs,
    )


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.cwd = tmp_path / "pair"
        self.cwd.mkdir()
        (self.cwd / "seed.sql").write_text("insert into users values (1);\n")
        (self.cwd / "fixtures").mkdir()
        (self.cwd / "fixtures" / "a.json").write_text('{"a": 1}')
        self.stamps = tmp_path / "reports" / ".cache" / "setup"
        self.messages: list[str] = []

    def run(self, ext: ExternalConfig, urls: tuple[str, str] = ("http://l", "http://c")) -> bool:
        return run_setup_command(ext, self.cwd, self.stamps, urls, self.messages.append)

    @property
    def runs(self) -> int:
        log = self.cwd / "runs.log"
        return len(log.read_text().splitlines()) if log.exists() else 0


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_runs_first_then_skipped_while_nothing_changed(setup: Setup, tmp_path: Path) -> None:
    ext = _ext(tmp_path)
    assert setup.run(ext) is True
    assert setup.runs == 1
    assert (setup.stamps / SETUP_STAMP).is_file()
    assert setup.run(ext) is False
    assert setup.runs == 1
    assert setup.messages[-1].startswith("setup_command skipped: inputs unchanged since 20")


def test_runs_again_when_an_input_file_changes(setup: Setup, tmp_path: Path) -> None:
    ext = _ext(tmp_path)
    setup.run(ext)
    (setup.cwd / "seed.sql").write_text("insert into users values (2);\n")
    assert setup.run(ext) is True
    assert setup.runs == 2
    assert setup.run(ext) is False  # the new stamp holds
    # a file the glob now matches counts too
    (setup.cwd / "fixtures" / "b.json").write_text("{}")
    assert setup.run(ext) is True
    assert setup.runs == 3


def test_runs_again_when_the_command_env_or_targets_change(setup: Setup, tmp_path: Path) -> None:
    setup.run(_ext(tmp_path))
    assert setup.run(_ext(tmp_path, extra=" # v2")) is True
    assert setup.runs == 2
    with_env = _ext(tmp_path, extra=" # v2").model_copy(update={"env": {"SEED": "2"}})
    assert setup.run(with_env) is True
    assert setup.runs == 3
    assert setup.run(with_env, urls=("http://l", "http://other")) is True
    assert setup.runs == 4


def test_a_failure_leaves_no_stamp(setup: Setup, tmp_path: Path) -> None:
    ext = _ext(tmp_path)
    setup.run(ext)
    (setup.cwd / "seed.sql").write_text("changed\n")
    (setup.cwd / "FAIL").write_text("")
    with pytest.raises(HarnessError, match="setup command exited 3"):
        setup.run(ext)
    # the old stamp is gone too: back to the first inputs, the command still runs
    assert not (setup.stamps / SETUP_STAMP).exists()
    (setup.cwd / "seed.sql").write_text("insert into users values (1);\n")
    with pytest.raises(HarnessError):
        setup.run(ext)
    assert not (setup.stamps / SETUP_STAMP).exists()
    (setup.cwd / "FAIL").unlink()
    assert setup.run(ext) is True
    assert setup.runs == 4


def test_without_setup_inputs_it_runs_every_time(setup: Setup) -> None:
    ext = ExternalConfig(setup_command=[sys.executable, "-c", SCRIPT])
    assert setup.run(ext)
    assert setup.run(ext)
    assert setup.runs == 2
    assert not setup.stamps.exists()


def test_a_missing_input_file_is_a_config_error(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match=r"setup_inputs: no file 'nope\.sql'"):
        setup.run(_ext(tmp_path, inputs=["nope.sql"]))
    assert setup.runs == 0


def test_setup_inputs_needs_a_command() -> None:
    with pytest.raises(ValueError, match="setup_inputs goes with setup_command"):
        ExternalConfig(setup_inputs=["seed.sql"])
