"""The fixture pair on a real PostgreSQL server (issue 15): write-only drift, a wrong column
value, a missing row or an extra row that no response shows, is caught as a ``db:`` finding
with exit 1; the agreeing pair is quiet, in managed mode and over five seeds. One private
server for the module (``PARITY_POSTGRES_URL``: managed mode puts each run's template and
clones there and drops them after); the five seeds run in URL mode against one start of the
pair (its databases named in ``[external]``), so they cost no startup; small counts and
narrow operations keep each run to seconds."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.pair.pgserver import PgServer, pg_available, pg_server
from harness.pair.targets import POSTGRES_URL_VARIABLE
from tests.harness.conftest import FIXTURE, RunPair, make_config

pytestmark = [pytest.mark.e2e]

PROFILE = """
[profiles.pgpair]
positive = 6
negative = 0
probes = false
rows = false
shrink = false
invariants = true
databases = {databases}
"""
CANDIDATE = '{ candidate = "postgresql" }'
BOTH = '{ legacy = "postgresql", candidate = "postgresql" }'


@pytest.fixture(scope="module")
def pg() -> Iterator[PgServer]:
    if not pg_available():
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is required in CI (.ci/run installs Debian's postgresql)")
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    with pg_server() as server, pytest.MonkeyPatch.context() as patch:
        patch.setenv(POSTGRES_URL_VARIABLE, server.url("postgres"))
        yield server


def _no_leftovers(pg: PgServer, since: float) -> None:
    """No process the run started (at ``since`` or later) survives it: the module's server
    and the module's running pair are older."""
    assert pg.process is not None
    server = {pg.process.pid} | {p.pid for p in psutil.Process(pg.process.pid).children()}
    alive = [
        p.cmdline()
        for p in psutil.Process().children(recursive=True)
        if p.pid not in server
        and p.create_time() >= since - 0.01
        and p.is_running()
        and p.status() != psutil.STATUS_ZOMBIE
        and "multiprocessing.resource_tracker" not in " ".join(p.cmdline())
    ]
    assert not alive, f"processes left behind: {alive}"


def _databases(pg: PgServer) -> set[str]:
    import psycopg

    with psycopg.connect(pg.dsn("postgres")) as conn:
        rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'parity%'")
        return {row[0] for row in rows.fetchall()}


def _run(
    run_pair: RunPair,
    pg: PgServer,
    seed: int,
    operation: str,
    *,
    drift: str = "",
    both: bool = False,
) -> tuple[int, dict[str, Any]]:
    extra = PROFILE.replace("{databases}", BOTH if both else CANDIDATE)
    since = time.time()
    code, results = run_pair(
        "--profile", "pgpair", "--seed", str(seed), "--operation", operation,
        drift=drift, extra=extra, leftovers=False,
    )  # fmt: skip
    assert results.get("errors") == [], results.get("errors")
    _no_leftovers(pg, since)
    assert _databases(pg) == set(), "the run's databases are dropped at the end"
    return code, results


def _db_findings(results: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {
        (f["operation"], f["location"], f["kind"])
        for f in results["findings"]
        if f["location"].startswith("db:")
    }


@pytest.mark.parametrize(
    ("drift", "operation", "location", "both"),
    [
        # a wrong column value: the create's events row has another kind
        ("dbwrite", "POST /items", "db:events.kind", False),
        # a missing row: a delete writes no events row
        ("noevent", "DELETE /items/{id}", "db:events", False),
        # an extra row: a create writes one events row more (both sides on PostgreSQL)
        ("extrarow", "POST /items", "db:events", True),
    ],
)
def test_write_only_drift_on_postgresql_is_a_db_finding(
    run_pair: RunPair, pg: PgServer, drift: str, operation: str, location: str, both: bool
) -> None:
    code, results = _run(run_pair, pg, 1, operation, drift=drift, both=both)
    assert code == 1, results["findings"]
    engines = {k: t["database"] for k, t in results["targets"].items()}
    assert engines == {
        "legacy": "postgresql" if both else "sqlite",
        "candidate": "postgresql",
    }
    found = _db_findings(results)
    assert {(op, loc) for op, loc, _kind in found} == {(operation, location)}, found
    # write-only: no response differs (an invariant may see it too: it reads the rows)
    assert all(f["location"].startswith(("db:", "invariant:")) for f in results["findings"])
    example = next(f for f in results["findings"] if f["location"] == location)["example"]
    writes = example["db_writes"]
    assert writes["legacy"]["events"] != writes["candidate"].get("events")


@pytest.mark.slow
def test_agreeing_pair_managed_on_postgresql_is_quiet(run_pair: RunPair, pg: PgServer) -> None:
    """Managed mode, both sides on PostgreSQL (template, clones, restores under them), and
    interop on one clone of the legacy's template shared by both services."""
    extra = PROFILE.replace("{databases}", BOTH) + "interop = true\ninterop_cases = 2\n"
    since = time.time()
    code, results = run_pair(
        "--profile", "pgpair", "--seed", "1",
        "--operation", "POST /items", "--operation", "GET /items/{id}",
        extra=extra, leftovers=False,
    )  # fmt: skip
    assert results["errors"] == [], results["errors"]
    _no_leftovers(pg, since)
    assert _databases(pg) == set(), "the run's databases, the shared one too, are dropped"
    assert code == 0, results["findings"]
    assert results["findings"] == []
    op = next(o for o in results["operations"] if o["id"] == "POST /items")
    assert op["status_codes"]["candidate"].get("201", 0) > 0, "writes were compared"
    assert results["invariants"], "invariants ran on both databases"
    assert results["stats"]["interop"]["reads"] > 0, results["stats"]["notes"]


@pytest.fixture(scope="module")
def agreeing_pair(
    pg: PgServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, str], dict[str, str]]]:
    """The agreeing fixture pair up once for the module: the legacy on a SQLite file, the
    candidate on a PostgreSQL database; (its parity.toml, base URLs, database URLs)."""
    from harness.db.load import load
    from harness.db.postgres import create_database
    from harness.pair.services import ManagedService, build_snapshot, copy_snapshot
    from harness.setup.config import load_config

    tmp = tmp_path_factory.mktemp("agreeing")
    pair = tmp / "pair"
    shutil.copytree(FIXTURE, pair, ignore=shutil.ignore_patterns("__pycache__"))
    config = load_config(make_config(pair))
    assert config.snapshot is not None
    snap = build_snapshot(config.snapshot, config.base_dir, tmp / "s.db", tmp / "s.log")
    databases = {
        "legacy": str(copy_snapshot(snap, tmp / "legacy.db")),
        "candidate": pg.url("agree"),
    }
    create_database(databases["candidate"])
    load(snap, databases["candidate"])
    services = {
        key: ManagedService(key, config.services[key], config.base_dir, db, tmp / f"{key}.log")
        for key, db in databases.items()
    }
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_healthy()
        listed = ", ".join(f'{k} = "{v}"' for k, v in databases.items())
        extra = PROFILE.replace("{databases}", "{}") + f"[external]\ndatabases = {{ {listed} }}\n"
        yield (
            make_config(pair, extra=extra),
            {k: svc.base_url for k, svc in services.items()},
            databases,
        )
    finally:
        for svc in services.values():
            svc.stop()


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_agreeing_pair_on_postgresql_is_quiet_over_seeds(
    run_pair: RunPair, agreeing_pair: tuple[Path, dict[str, str], dict[str, str]], seed: int
) -> None:
    """The same pair, five seeds, one start (URL mode with both databases named): no
    finding, writes compared across engines and restored after each."""
    config, urls, _databases = agreeing_pair
    code, results = run_pair(
        "--profile", "pgpair", "--seed", str(seed),
        "--operation", "POST /items", "--operation", "DELETE /items/{id}",
        "--operation", "PATCH /items/{id}",
        "--legacy-url", urls["legacy"], "--candidate-url", urls["candidate"],
        config=config, leftovers=False,
    )  # fmt: skip
    assert results["errors"] == [], results["errors"]
    assert code == 0, results["findings"]
    assert results["findings"] == []
    engines = {k: t["database"] for k, t in results["targets"].items()}
    assert engines == {"legacy": "sqlite", "candidate": "postgresql"}
    assert results["targets"]["candidate"]["restores"] > 0, "writes were compared and undone"
    assert results["invariants"], "invariants ran on both engines"


def test_url_mode_on_postgresql_databases_leaves_them_clean(
    run_pair: RunPair, pg: PgServer, pair_dir: Path, tmp_path: Path
) -> None:
    """Two PostgreSQL databases parity did not create, behind a pair it did not start: the
    write-only drift is caught, and each database is left as found (rows, no parity objects)."""
    import psycopg

    from harness.db.load import load
    from harness.db.postgres import create_database
    from harness.pair.services import ManagedService, build_snapshot
    from harness.setup.config import load_config

    config = load_config(make_config(pair_dir, drift="dbwrite"))
    assert config.snapshot is not None
    snap = build_snapshot(config.snapshot, config.base_dir, tmp_path / "s.db", tmp_path / "s.log")
    urls = {key: pg.url(f"user_{key}") for key in ("legacy", "candidate")}
    for url in urls.values():
        create_database(url)
        load(snap, url)

    def state(key: str) -> tuple[Any, ...]:
        with psycopg.connect(pg.dsn(f"user_{key}")) as conn:
            return (
                conn.execute("SELECT * FROM events ORDER BY id").fetchall(),
                conn.execute("SELECT count(*) FROM items").fetchone(),
                conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'parity%'"
                ).fetchall(),
                conn.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall(),
                conn.execute("SELECT last_value FROM items_id_seq").fetchone(),
            )

    services = {
        key: ManagedService(
            key, config.services[key], config.base_dir, url, tmp_path / f"{key}.log"
        )
        for key, url in urls.items()
    }
    try:
        for svc in services.values():
            svc.start()
        for svc in services.values():
            svc.wait_healthy()
        before = {key: state(key) for key in urls}
        databases = ", ".join(f'{k} = "{u}"' for k, u in urls.items())
        extra = (
            PROFILE.replace("{databases}", "{}") + f"[external]\ndatabases = {{ {databases} }}\n"
        )
        code, results = run_pair(
            "--profile", "pgpair", "--seed", "1", "--operation", "POST /items",
            "--legacy-url", services["legacy"].base_url,
            "--candidate-url", services["candidate"].base_url,
            config=make_config(pair_dir, drift="dbwrite", extra=extra), leftovers=False,
        )  # fmt: skip
        after = {key: state(key) for key in urls}
    finally:
        for svc in services.values():
            svc.stop()
    assert results["errors"] == [], results["errors"]
    assert code == 1
    assert {t["database"] for t in results["targets"].values()} == {"postgresql"}
    assert ("POST /items", "db:events.kind") in {
        (f["operation"], f["location"]) for f in results["findings"]
    }
    assert results["targets"]["candidate"]["restores"] > 0
    assert after == before, "rows, sequences and the absence of parity objects as found"
    assert before["legacy"][2] == []  # no parity schema
    assert before["legacy"][3] == []  # no trigger


def test_interop_on_one_postgresql_database_shows_what_only_sharing_shows(
    run_pair: RunPair, pg: PgServer
) -> None:
    """Both services on one clone of the legacy's template: the candidate stores dates in
    another format and reads its own back converted (storedate), so only a row the other
    side wrote shows it."""
    extra = (
        "\n[profiles.pgshare]\nstateless = false\nrequire_proof = false\ninterop = true\n"
        f"interop_cases = 2\ninvariants = false\ndatabases = {BOTH}\n"
    )
    since = time.time()
    code, results = run_pair(
        "--profile", "pgshare", "--seed", "1",
        "--operation", "POST /items", "--operation", "GET /items/{id}",
        drift="storedate", extra=extra, leftovers=False,
    )  # fmt: skip
    assert results["errors"] == [], results["errors"]
    _no_leftovers(pg, since)
    assert _databases(pg) == set()
    assert code == 1
    found = {(f["operation"], f["location"], f["phase"]) for f in results["findings"]}
    assert ("GET /items/{id}", "body:$.updatedAt", "interop") in found, found
