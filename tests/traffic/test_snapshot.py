"""Which database a replay starts from: the capture header's snapshot resolved to a SQLite
file or a seed of the configured command; a name that resolves to nothing is exit 2."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.setup.config import ParityConfig, SnapshotConfig
from harness.setup.traffic import TrafficConfig
from harness.traffic.capture import Capture, Header, TrafficError
from harness.traffic.snapshot import resolve_snapshot


def _capture(tmp: Path, snapshot: str | None, name: str = "c.jsonl") -> Capture:
    header = Header(created=datetime(2026, 1, 5, tzinfo=UTC), snapshot=snapshot)
    return Capture(header, [], [], str(tmp / name))


def _config(tmp: Path, **snapshots: str) -> ParityConfig:
    return ParityConfig.model_validate(
        {
            "snapshot": SnapshotConfig(command=["true"]),
            "traffic": TrafficConfig(snapshots=snapshots),
        }
    ).model_copy(update={"base_dir": tmp, "source": tmp / "parity.toml"})


def _sqlite(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    return path


def test_no_snapshot_named_means_the_configured_one(tmp_path: Path) -> None:
    assert resolve_snapshot([_capture(tmp_path, None)], _config(tmp_path)) is None


def test_a_file_beside_the_capture_a_mapped_name_and_a_seed(tmp_path: Path) -> None:
    db = _sqlite(tmp_path / "state.db")
    found = resolve_snapshot([_capture(tmp_path, "state.db")], _config(tmp_path))
    assert found is not None
    assert found.file == db.resolve()
    assert found.seed is None
    mapped = resolve_snapshot(
        [_capture(tmp_path, "prod-0105")], _config(tmp_path, **{"prod-0105": "state.db"})
    )
    assert mapped is not None
    assert mapped.file == db.resolve()
    seeded = resolve_snapshot([_capture(tmp_path, "seed 7")], _config(tmp_path))
    assert seeded is not None
    assert (seeded.file, seeded.seed) == (None, 7)


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("missing.db", "no such SQLite file"),
        ("nightly", "not a name in [traffic.snapshots]"),
        ("plain.txt", "is not a SQLite database"),
    ],
)
def test_a_snapshot_that_resolves_to_nothing_is_an_error(
    tmp_path: Path, name: str, said: str
) -> None:
    (tmp_path / "plain.txt").write_text("not a database")
    with pytest.raises(TrafficError, match="snapshot") as caught:
        resolve_snapshot([_capture(tmp_path, name)], _config(tmp_path))
    assert said in caught.value.message
    assert name in caught.value.message


def test_a_mapped_name_to_a_missing_file_and_two_different_snapshots(tmp_path: Path) -> None:
    with pytest.raises(TrafficError, match="no file"):
        resolve_snapshot([_capture(tmp_path, "x")], _config(tmp_path, x="gone.db"))
    with pytest.raises(TrafficError, match="different snapshots"):
        resolve_snapshot(
            [_capture(tmp_path, "seed 1", "a.jsonl"), _capture(tmp_path, "seed 2", "b.jsonl")],
            _config(tmp_path),
        )
