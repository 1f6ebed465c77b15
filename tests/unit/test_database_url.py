"""A managed service's PostgreSQL URL: the plain ``postgresql://`` form its own driver accepts
(libpq, node-postgres, pgx), never parity's SQLAlchemy ``postgresql+psycopg://``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from harness.pair.services import ManagedService, database_values
from harness.pair.targets import load_database
from harness.setup.config import ServiceConfig

INTERNAL = "postgresql+psycopg://parity:p%40ss@127.0.0.1:55432/parity_candidate?sslmode=disable"

# writes its argv and the variables the service config names to the file in argv[1]
RECORD = (
    "import json, os, sys; "
    "json.dump({'argv': sys.argv[1:], 'env': {k: os.environ.get(k, '') for k in "
    "('DATABASE_URL', 'DATABASE_PATH', 'DATABASE')}}, open(sys.argv[1], 'w'))"
)


def _seen(tmp_path: Path, database: Path | str) -> dict[str, object]:
    out = tmp_path / "seen.json"
    config = ServiceConfig(
        command=[sys.executable, "-c", RECORD, str(out), "{database_url}", "{database}"],
        env={
            "DATABASE_URL": "{database_url}",
            "DATABASE_PATH": "{database_path}",
            "DATABASE": "{database}",
        },
    )
    service = ManagedService(
        target="candidate",
        config=config,
        base_dir=tmp_path,
        database=database,
        log_path=tmp_path / "service.log",
    )
    service.start()
    try:
        assert service.process is not None
        assert service.process.wait(timeout=30) == 0, (tmp_path / "service.log").read_text()
    finally:
        service.stop()
    seen: dict[str, object] = json.loads(out.read_text())
    return seen


def test_a_service_gets_the_plain_postgresql_url(tmp_path: Path) -> None:
    seen = _seen(tmp_path, INTERNAL)
    env = seen["env"]
    argv = seen["argv"]
    assert isinstance(env, dict)
    assert isinstance(argv, list)
    for value in (env["DATABASE_URL"], env["DATABASE"], argv[1], argv[2]):
        assert value.startswith("postgresql://"), value
        assert "+psycopg" not in value
        parts = conninfo_to_dict(value)  # libpq's own parser: what a plain driver accepts
        assert parts["host"] == "127.0.0.1"
        assert parts["port"] == "55432"
        assert parts["user"] == "parity"
        assert parts["password"] == "p@ss"
        assert parts["dbname"] == "parity_candidate"
        assert parts["sslmode"] == "disable"
    assert env["DATABASE_PATH"] == ""


def test_the_internal_form_is_what_libpq_refuses() -> None:
    """The test above could not pass on the old placeholder: libpq rejects the scheme."""
    with pytest.raises(psycopg.ProgrammingError, match="postgresql\\+psycopg"):
        conninfo_to_dict(INTERNAL)


def test_a_sqlite_service_keeps_its_file(tmp_path: Path) -> None:
    db = tmp_path / "candidate.db"
    assert database_values(db) == {
        "database": str(db),
        "database_path": str(db),
        "database_url": "",
    }
    env = _seen(tmp_path, db)["env"]
    assert env == {"DATABASE_URL": "", "DATABASE_PATH": str(db), "DATABASE": str(db)}


def test_database_load_gets_the_plain_url(tmp_path: Path) -> None:
    out = tmp_path / "load.txt"
    script = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    load = [sys.executable, "-c", script, str(out), "{database}"]
    load_database(load, tmp_path, tmp_path / "snapshot.db", INTERNAL)
    url = out.read_text()
    assert url.startswith("postgresql://parity:")
    assert conninfo_to_dict(url)["dbname"] == "parity_candidate"
