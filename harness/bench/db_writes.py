"""What the database layer costs per write, SQLite against PostgreSQL, on one snapshot.

    python -m harness.bench.db_writes [--config contracts/parity.toml] [--snapshot FILE] [-n 200]

Builds the seeded snapshot with the config's ``[snapshot]`` command (or takes ``--snapshot``),
copies it into a private PostgreSQL server with the candidate's ``database_load`` command (for
the shipped port, ``backend.pgload``: the schema from its models) and, on each engine,
repeats one request-sized write (a case inserted, an event inserted, an alert updated,
from another connection, as a service would) ``-n`` times, timing the
watcher's ``changed()`` + ``writes()`` and its ``restore()``; then ``changed()`` alone when
nothing was written (every read-only request pays it). Prints milliseconds per call (median
and p90) and PostgreSQL's figures as ratios of SQLite's, for each PostgreSQL restore strategy.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.db.watcher import Watcher, open_watcher
from harness.errors import HarnessError

__all__ = ["main"]

_CASE = (
    "INSERT INTO cases (title, description, channel, status, category, priority, business_unit,"
    " customer_name, created_at, updated_at) VALUES ('Bench', '', 'email', 'open', 'c', 'low',"
    " 'retail', 'R', '2025-01-01T00:00:00.000Z', '2025-01-01T00:00:00.000Z')"
)
_EVENT = (
    "INSERT INTO events (kind, subject_type, subject_id, payload, created_at) VALUES"
    " ('case.created', 'case', 1, '{}', '2025-01-01T00:00:00.000Z')"
)
_ALERT = (
    "UPDATE alerts SET status = 'resolved', updated_at = '2025-02-01T00:00:00.000Z' WHERE id = 3"
)


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.9) - 1] * 1000


def _measure(
    watcher: Watcher, write: Callable[[], None], rounds: int, *, restore_write: bool = True
) -> dict[str, tuple[float, float]]:
    diff: list[float] = []
    restore: list[float] = []
    idle: list[float] = []
    for _ in range(rounds):
        write()
        started = time.perf_counter()
        if not watcher.changed():
            raise HarnessError("the benchmark's write was not seen")
        writes = watcher.writes()
        diff.append(time.perf_counter() - started)
        if set(writes) - {"sqlite_sequence"} != {"cases", "events", "alerts"}:
            raise HarnessError(f"unexpected writes: {sorted(writes)}")
        started = time.perf_counter()
        watcher.restore()
        restore.append(time.perf_counter() - started)
        started = time.perf_counter()
        if watcher.changed():
            raise HarnessError("changed() after a restore")
        idle.append(time.perf_counter() - started)
    return {"changed+writes": _ms(diff), "restore": _ms(restore), "changed (idle)": _ms(idle)}


def _sqlite(snapshot: Path, tmp: Path, rounds: int) -> dict[str, tuple[float, float]]:
    live = tmp / "live.db"
    shutil.copyfile(snapshot, live)
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    watcher = open_watcher(live, tmp / "live.baseline.db")
    watcher.open()

    def write() -> None:
        writer.execute("BEGIN")
        writer.execute(_CASE)
        writer.execute(_EVENT)
        writer.execute(_ALERT)
        writer.execute("COMMIT")

    try:
        return _measure(watcher, write, rounds)
    finally:
        watcher.close()
        writer.close()


def _postgres(
    snapshot: Path, rounds: int, load: Callable[[Path, str], None]
) -> dict[str, dict[str, tuple[float, float]]]:
    import psycopg

    from harness.db.postgres import clone_database, create_database
    from harness.pair.pgserver import pg_server

    out: dict[str, dict[str, tuple[float, float]]] = {}
    with pg_server() as server:
        template = server.url("bench_template")
        create_database(template)
        load(snapshot, template)
        for strategy in ("rows", "tables", "clone"):
            name = f"bench_{strategy}"
            live = clone_database(template, name)
            tpl = None
            if strategy == "clone":
                # the clone's template must carry the change log and baseline: open once on
                # the live database, then take the template from it (no sessions on it)
                first = open_watcher(live)
                first.open()
                first.close()
                tpl = f"{name}_tpl"
                clone_database(live, tpl)
            watcher = open_watcher(live, strategy=strategy, template=tpl)
            watcher.open()
            state: dict[str, Any] = {"conn": psycopg.connect(server.dsn(name), autocommit=True)}

            def write(
                state: dict[str, Any] = state, name: str = name, strategy: str = strategy
            ) -> None:
                conn = state["conn"]
                if conn.closed or conn.broken:
                    conn = state["conn"] = psycopg.connect(server.dsn(name), autocommit=True)
                with conn.transaction():
                    conn.execute(_CASE)
                    conn.execute(_EVENT)
                    conn.execute(_ALERT)
                if strategy == "clone":
                    conn.close()  # re-cloning needs the database to itself

            try:
                out[strategy] = _measure(watcher, write, rounds if strategy != "clone" else 20)
            finally:
                watcher.close()
                if not state["conn"].closed:
                    state["conn"].close()
    return out


def _build_snapshot(config_path: Path, tmp: Path) -> Path:
    from harness.pair.services import build_snapshot
    from harness.setup.config import load_config

    config = load_config(config_path)
    if config.snapshot is None:
        raise HarnessError(f"{config_path} has no [snapshot]; pass --snapshot")
    return build_snapshot(
        config.snapshot, config_path.parent, tmp / "snapshot.db", tmp / "snapshot.log"
    )


def _candidate_load(config_path: Path) -> Callable[[Path, str], None]:
    """The candidate's ``database_load`` (or the default one), as a run would load it."""
    from harness.pair.targets import load_database
    from harness.setup.config import load_config

    config = load_config(config_path)
    service = config.services["candidate"]
    cwd = config.resolve(service.cwd)
    return lambda snapshot, url: load_database(service.database_load, cwd, snapshot, url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.bench.db_writes")
    parser.add_argument("--config", type=Path, default=Path("contracts/parity.toml"))
    parser.add_argument("--snapshot", type=Path, help="a seeded SQLite file (else built)")
    parser.add_argument("-n", "--rounds", type=int, default=200)
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="parity-bench-db-") as name:
            tmp = Path(name)
            snapshot = args.snapshot or _build_snapshot(args.config, tmp)
            sqlite = _sqlite(snapshot, tmp, args.rounds)
            postgres = _postgres(snapshot, args.rounds, _candidate_load(args.config))
    except HarnessError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(f"one write = 1 case + 1 event inserted, 1 alert updated; {args.rounds} rounds")
    print(f"{'':24}{'median ms':>10}{'p90 ms':>9}{'x SQLite':>10}")
    for measure in ("changed+writes", "restore", "changed (idle)"):
        base = sqlite[measure][0]
        print(f"{measure}")
        print(f"  {'sqlite':22}{sqlite[measure][0]:10.2f}{sqlite[measure][1]:9.2f}{1:10.1f}")
        for strategy, figures in postgres.items():
            med, p90 = figures[measure]
            label = f"postgresql ({strategy})"
            print(f"  {label:22}{med:10.2f}{p90:9.2f}{med / base:10.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
