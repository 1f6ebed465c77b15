"""Check by hand (no harness) that every mutant really changes the port's behaviour.

``python -m tests.mutants.verify [NAME ...]``: for each mutant, start the unmutated port and
the mutated one on two copies of one seeded database, send both the same hand-written
requests for the operations the mutant touches, and compare statuses, headers, bodies and
the final database (clock-stamped times compared by shape only, random tokens masked).
A mutant that changes nothing would be a useless entry in the catalogue.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.mutants.catalogue import CATALOGUE, Mutant
from tests.servers import legacy_fingerprint, seeded

ROOT = Path(__file__).resolve().parents[2]
LEGACY = ROOT / "legacy"
CREDENTIALS = {
    "admin": ("admin@example.test", "parity-admin"),
    "agent": ("agent.retail@example.test", "parity-agent"),
    "viewer": ("viewer.retail@example.test", "parity-viewer"),
    "leaver": ("agent.retail@example.test", "parity-agent"),  # a session only logout uses
}
TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")


@dataclass
class Probe:
    role: str | None
    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: dict[str, tuple[str, bytes, str]] | None = None


def seeded_database(cache: Path, seed: int = 42) -> Path:
    """The legacy's deterministic seed, built once per schema and seed, and reused."""
    return seeded(cache, "--seed", str(seed), name=f"seed{seed}-{legacy_fingerprint()}.db")


# the seed writes no audit rows: both copies get one at a known instant, so a since= equal
# to it keeps the row (>=) or drops it (>)
PROBE_EVENT_AT = "2026-01-02T03:04:05.678Z"


def _probe_rows(db: Path) -> None:
    conn = sqlite3.connect(db)
    try:
        conn.execute(
            "INSERT INTO events (kind, subject_type, subject_id, actor_id, payload, created_at, "
            "business_unit) VALUES ('case.updated', 'case', 1, 1, '{}', ?, NULL)",
            (PROBE_EVENT_AT,),
        )
        conn.commit()
    finally:
        conn.close()


def probes(db: Path) -> dict[str, list[Probe]]:
    """Requests per operation, chosen to reach the behaviour each mutant changes."""
    conn = sqlite3.connect(db)
    try:
        category = conn.execute("SELECT category FROM cases LIMIT 1").fetchone()[0]
        other_unit_case = conn.execute(
            "SELECT id FROM cases WHERE business_unit != 'retail' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        open_case = conn.execute(
            "SELECT id FROM cases WHERE status != 'closed' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        active_alert = conn.execute(
            "SELECT id FROM alerts WHERE status = 'active' AND business_unit = 'retail' "
            "ORDER BY id LIMIT 1"
        ).fetchone()[0]
        closed_case = conn.execute(
            "SELECT id FROM cases WHERE status = 'closed' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        open_retail_case = conn.execute(
            "SELECT id FROM cases WHERE status = 'open' AND business_unit = 'retail' "
            "ORDER BY id LIMIT 1"
        ).fetchone()[0]
        acked_alert = conn.execute(
            "SELECT id FROM alerts WHERE status = 'acknowledged' AND business_unit = 'retail' "
            "ORDER BY id LIMIT 1"
        ).fetchone()[0]
        resolved_alert = conn.execute(
            "SELECT id FROM alerts WHERE status = 'resolved' AND acknowledged_at IS NOT NULL "
            "ORDER BY id LIMIT 1"
        ).fetchone()[0]
        other_unit_alert = conn.execute(
            "SELECT id FROM alerts WHERE business_unit != 'retail' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        word = conn.execute("SELECT title FROM cases ORDER BY id LIMIT 1").fetchone()[0]
        word = max(re.findall(r"\w+", word), key=len)
    finally:
        conn.close()
    csv = (
        b"title,channel,category,customerName\n"
        b"Good one,email,billing,Ann\n"
        b"Bad one,pigeon,billing,Bob\n"
        b"Good two,chat,billing,Cy\n"
    )
    header = b"title,channel,category,customerName\n"
    good = b"Good one,email,billing,Ann\n"
    edge_csvs = {
        "many-bad.csv": header + b",email,billing,Bob\n" * 120 + good,
        "bom.csv": b"\xef\xbb\xbf" + header + good,
        "extra.csv": b"title,channel,category,customerName,extra\nGood one,email,billing,Ann,x\n",
        "multiline.csv": header + b'"Two\nlines",email,billing,Ann\n' + good,
        "large.csv": header + good * 1100,
    }
    uploads = [
        Probe("agent", "POST", "/api/upload", files={"file": (name, data, "text/csv")})
        for name, data in edge_csvs.items()
    ]
    case_body = {"title": "Probe", "channel": "email", "category": "billing", "customerName": "X"}
    return {
        "GET /api/cases/{id}": [
            Probe("admin", "GET", "/api/cases/1"),
            Probe("agent", "GET", f"/api/cases/{other_unit_case}"),
            Probe(None, "GET", "/api/cases/"),
        ],
        "POST /api/cases/{id}/assign": [
            Probe("agent", "POST", f"/api/cases/{open_retail_case}/assign", json={"assigneeId": 2})
        ],
        "DELETE /api/cases/{id}": [Probe("admin", "DELETE", "/api/cases/")],
        "GET /api/alerts": [
            Probe("admin", "GET", "/api/alerts"),
            Probe("agent", "GET", "/api/alerts", {"limit": "50"}),
            Probe("admin", "GET", "/api/alerts", {"limit": "abc"}),
            Probe("admin", "GET", "/api/alerts", {"limit": "101"}),
            # a transition, then the list filtered on the old state (last: it writes)
            Probe("admin", "POST", f"/api/alerts/{active_alert}/acknowledge"),
            Probe("admin", "GET", "/api/alerts", {"status": "active", "limit": "100"}),
        ],
        "GET /api/alerts/count": [Probe("agent", "GET", "/api/alerts/count")],
        "GET /api/alerts/{id}": [
            Probe("admin", "GET", "/api/alerts/1"),
            Probe("admin", "GET", "/api/alerts/99999"),
            Probe(None, "GET", "/api/alerts/"),
            Probe("admin", "GET", f"/api/alerts/{resolved_alert}"),
            Probe("agent", "GET", f"/api/alerts/{other_unit_alert}"),
        ],
        "PUT /api/alerts/{id}": [Probe("admin", "PUT", "/api/alerts/count", json={})],
        "DELETE /api/alerts/{id}": [
            Probe("admin", "DELETE", "/api/alerts/2"),
            Probe("admin", "DELETE", "/api/alerts/count"),
        ],
        "POST /api/alerts/{id}/acknowledge": [
            Probe("agent", "POST", f"/api/alerts/{active_alert}/acknowledge"),
            Probe("agent", "POST", f"/api/alerts/{acked_alert}/acknowledge"),
        ],
        "POST /api/alerts/{id}/resolve": [
            Probe("admin", "POST", f"/api/alerts/{acked_alert}/resolve")
        ],
        "GET /api/auth/me": [Probe("viewer", "GET", "/api/auth/me")],
        "POST /api/auth/login": [
            Probe(
                None,
                "POST",
                "/api/auth/login",
                json={"email": "admin@example.test", "password": "parity-admin"},
            )
        ],
        "POST /api/auth/logout": [
            Probe("leaver", "POST", "/api/auth/logout"),
            Probe("leaver", "GET", "/api/auth/me"),
        ],
        "GET /api/cases": [
            Probe("admin", "GET", "/api/cases"),
            Probe("admin", "GET", "/api/cases", {"sort": "-priority", "page": "2"}),
            Probe("admin", "GET", "/api/cases", {"category": category.upper()}),
        ],
        "POST /api/cases": [
            Probe("agent", "POST", "/api/cases", json=case_body),
            Probe("viewer", "POST", "/api/cases", json=case_body),
            Probe("agent", "POST", "/api/cases", json={**case_body, "title": "t" * 200}),
        ],
        "PATCH /api/cases/{id}": [
            Probe("admin", "PATCH", f"/api/cases/{open_case}", json={"title": "Renamed"}),
            Probe("admin", "PATCH", f"/api/cases/{open_case}", json={}),
            Probe("admin", "PATCH", "/api/cases/count", json={}),
            Probe("admin", "PATCH", f"/api/cases/{closed_case}", json={"title": "Edited"}),
        ],
        "GET /api/feed": [
            Probe("admin", "GET", "/api/feed", {"limit": "50"}),
            Probe(None, "GET", "/api/feed"),
            Probe("admin", "DELETE", "/api/feed"),
        ],
        "POST /api/feed": [
            Probe(
                "agent",
                "POST",
                "/api/feed",
                json={"kind": "trend", "title": "T", "expiresAt": "2099-01-01T00:00:00.000Z"},
            ),
            Probe(
                "agent", "POST", "/api/feed", json={"kind": "trend", "title": "Z", "priority": 0}
            ),
        ],
        "GET /api/search": [Probe("admin", "GET", "/api/search", {"q": word})],
        "GET /api/events": [
            Probe("admin", "GET", "/api/events", {"since": PROBE_EVENT_AT}),
            # a cursor page that is exactly full and the last one: the probe row alone
            Probe(
                "admin",
                "GET",
                "/api/events",
                {
                    "subjectType": "case",
                    "subjectId": "1",
                    "limit": "1",
                    "cursor": "eyJpIjo5OTk5OTl9",
                },
            ),
        ],
        "POST /api/upload": [
            Probe("agent", "POST", "/api/upload", files={"file": ("cases.csv", csv, "text/csv")}),
            *uploads,
        ],
        "GET /api/uploads/{id}": [Probe(None, "GET", "/api/uploads/")],
    }


# -- servers --------------------------------------------------------------------------------
@contextmanager
def launcher(mutant: str | None, db: Path, port: int, log: Path) -> Iterator[str]:
    env = {**os.environ, "DATABASE_PATH": str(db), "PORT": str(port)}
    env["PARITY_MUTANT"] = mutant or ""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.mutants.launcher"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"launcher {mutant} exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"launcher {mutant} not healthy: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


# -- comparison -----------------------------------------------------------------------------
def _time(value: str) -> str:
    """A clock-stamped time (now, or now + 7 days) by shape; a stored one as it is."""
    if abs(time.time() - _epoch(value)) < 8 * 86400:
        return "<now:" + re.sub(r"\d", "0", value) + ">"
    return value


def _epoch(value: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


class Float(str):
    """A JSON number written with a fraction or exponent: ``50.0`` is not ``50``."""


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: ("<token>" if k == "token" else _mask(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if isinstance(value, str) and TIME.fullmatch(value):
        return _time(value)
    return value


def _loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=lambda s: Float("float:" + s))


def _observe(resp: httpx.Response) -> dict[str, Any]:
    try:
        body: Any = _mask(_loads(resp.content))
    except ValueError:
        body = resp.text
    cookie = resp.headers.get("set-cookie")
    return {
        "status": resp.status_code,
        "content-type": resp.headers.get("content-type"),
        "location": resp.headers.get("location"),
        "set-cookie": re.sub(r"=[0-9a-f]{64}", "=<token>", re.sub(r"\d", "0", cookie))
        if cookie
        else None,
        "body": body,
    }


def dump(db: Path) -> dict[str, list[Any]]:
    conn = sqlite3.connect(db)
    try:
        out: dict[str, list[Any]] = {}
        for table in (
            "cases",
            "alerts",
            "feed_items",
            "events",
            "sessions",
            "search_analytics",
            "uploads",
        ):
            cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            rows = []
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):
                rec = dict(zip(cols, row, strict=True))
                if "token" in rec:
                    rec["token"] = "<token>"
                rows.append({k: _mask_cell(v) for k, v in rec.items()})
            out[table] = rows
        return out
    finally:
        conn.close()


def _mask_cell(value: Any) -> Any:
    if isinstance(value, str):
        if value[:1] in "{[":
            try:
                return _mask(_loads(value))
            except ValueError:
                return value
        if TIME.fullmatch(value):
            return _time(value)
    return value


def run_side(url: str, plan: list[Probe]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=10, follow_redirects=False) as client:
        tokens = {}
        for role, (email, password) in CREDENTIALS.items():
            res = client.post("/api/auth/login", json={"email": email, "password": password})
            tokens[role] = res.json()["token"]
        client.cookies.clear()  # credentials only where a probe asks for them
        seen = []
        for probe in plan:
            headers = {"Authorization": f"Bearer {tokens[probe.role]}"} if probe.role else {}
            resp = client.request(
                probe.method,
                probe.path,
                params=probe.params,
                json=probe.json,
                files=probe.files,
                headers=headers,
            )
            client.cookies.clear()
            seen.append(
                {"request": f"{probe.method} {probe.path} {probe.params}", **_observe(resp)}
            )
        return seen


def verify(mutant: Mutant, snapshot: Path, work: Path, ports: tuple[int, int]) -> list[str]:
    """Differences between the unmutated and the mutated port on the mutant's probes."""
    table = probes(snapshot)
    plan = [p for op in mutant.operations for p in table.get(op, [])]
    if not plan:
        return ["<no probes for these operations>"]
    plain_db, mutant_db = work / "plain.db", work / "mutant.db"
    shutil.copyfile(snapshot, plain_db)
    shutil.copyfile(snapshot, mutant_db)
    _probe_rows(plain_db)
    _probe_rows(mutant_db)
    with (
        launcher(None, plain_db, ports[0], work / "plain.log") as plain_url,
        launcher(mutant.name, mutant_db, ports[1], work / "mutant.log") as mutant_url,
    ):
        a = run_side(plain_url, plan)
        b = run_side(mutant_url, plan)
    diffs = []
    for x, y in zip(a, b, strict=True):
        for key in ("status", "content-type", "location", "set-cookie", "body"):
            if x[key] != y[key]:
                diffs.append(f"{x['request']}: {key}: {str(x[key])[:90]} -> {str(y[key])[:90]}")
    da, db_ = dump(plain_db), dump(mutant_db)
    for tbl in da:
        if da[tbl] != db_[tbl]:
            diffs.append(f"db {tbl}: {len(da[tbl])} rows -> {len(db_[tbl])} rows (contents differ)")
    return diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "parity-mutants"
    )
    parser.add_argument("--ports", default="8480,8481")
    args = parser.parse_args(argv)
    ports = tuple(int(p) for p in args.ports.split(","))
    snapshot = seeded_database(args.cache)
    names = args.names or list(CATALOGUE)
    inert = []
    for name in names:
        mutant = CATALOGUE[name]
        with tempfile.TemporaryDirectory(prefix="mutant-verify-") as tmp:
            diffs = verify(mutant, snapshot, Path(tmp), (ports[0], ports[1]))
        print(f"{'CHANGES' if diffs else 'INERT  '} {name}")
        for line in diffs[:4]:
            print(f"         {line}")
        if not diffs:
            inert.append(name)
    print(f"{len(names) - len(inert)}/{len(names)} mutants change behaviour; inert: {inert}")
    return 1 if inert else 0


if __name__ == "__main__":
    sys.exit(main())
