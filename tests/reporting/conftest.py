"""Realistic results.json documents: an agreeing run and a drifting one."""

from __future__ import annotations

import copy
from typing import Any

import pytest

OPS = ["GET /api/cases", "POST /api/cases", "GET /api/alerts/{id}", "GET /api/health"]


def _op(
    op_id: str, cases: int, agreeing: int, findings: int = 0, accepted: int = 0
) -> dict[str, Any]:
    method, path = op_id.split(" ", 1)
    return {
        "id": op_id,
        "method": method,
        "path": path,
        "operation_id": path.strip("/").replace("/", "_"),
        "cases": cases,
        "agreeing": agreeing,
        "findings": findings,
        "accepted": accepted,
        "proven": True,
        "status_codes": {
            "legacy": {"200": cases - 2, "400": 2},
            "candidate": {"200": cases - 2, "400": 2},
        },
        "latency_ms": {
            "legacy": {"p50": 4.0, "p95": 9.5, "max": 20.0},
            "candidate": {"p50": 2.0, "p95": 5.0, "max": 11.0},
        },
    }


def _base() -> dict[str, Any]:
    return {
        "schema_version": 2,
        "run_id": "20261124T101500Z-0001",
        "verdict": "agree",
        "exit_code": 0,
        "started_at": "2026-11-24T10:15:00Z",
        "finished_at": "2026-11-24T10:16:21Z",
        "duration_s": 81.2,
        "interrupted": False,
        "config": {
            "profile": "ci",
            "seed": 1234,
            "mode": "managed",
            "contract": "contracts/openapi.yaml",
            "config": "contracts/parity.toml",
            "operations": OPS,
            "phases": ["stateless", "invariants"],
        },
        "targets": {
            "legacy": {
                "name": "legacy",
                "base_url": "http://127.0.0.1:41234",
                "command": "npm start",
                "git_commit": "67df95a",
            },
            "candidate": {
                "name": "port",
                "base_url": "http://127.0.0.1:41235",
                "command": "python -m backend",
                "git_commit": "67df95a",
            },
        },
        "environment": {"parity": "0.1.0", "python": "3.11.7", "schemathesis": "4.32.5"},
        "operations": [_op(o, 40, 40) for o in OPS],
        "findings": [],
        "accepted": [],
        "noise": [],
        "invariants": [
            {"name": "foreign_keys_hold", "target": None, "passed": True, "message": ""},
            {"name": "every_write_leaves_one_event", "target": None, "passed": True, "message": ""},
        ],
        "coverage": {
            "operations_total": 4,
            "operations_exercised": 4,
            "operations_proven": 4,
            "responses_total": 12,
            "responses_seen": 9,
        },
        "causes": [],
        "unproven": [],
        "errors": [],
        "messages": [],
        "warnings": [],
        "stats": {
            "exchanges": 160,
            "cases_drawn": 150,
            "duplicates_dropped": 0,
            "unencodable_dropped": 0,
            "generation_errors": [],
            "generation_errors_by_type": {},
            "restores": 40,
            "case_cache_hits": 0,
            "timings_s": {"transport": 10.0},
            "invariant_findings": False,
            "stateful": {},
            "interop": {},
            "notes": [],
        },
    }


def _finding(
    fid: str,
    op: str,
    location: str,
    kind: str,
    legacy_body: Any,
    cand_body: Any,
    diff: list[dict[str, Any]],
    **extra: Any,
) -> dict[str, Any]:
    finding = {
        "id": fid,
        "phase": "stateless",
        "operation": op,
        "location": location,
        "kind": kind,
        "summary": diff[0]["summary"] if diff and "summary" in diff[0] else f"{kind} at {location}",
        "count": 3,
        "accepted": False,
        "accepted_reason": None,
        "accepted_expires": None,
        "example": {
            "steps": [
                {
                    "request": {
                        "method": op.split()[0],
                        "path": op.split()[1].replace("{id}", "7"),
                        "query": {},
                        "headers": {},
                        "body": None,
                        "role": "admin",
                        "mode": "positive",
                    },
                    "legacy": {
                        "status": 200,
                        "headers": {"content-type": "application/json"},
                        "body": legacy_body,
                        "elapsed_ms": 3.1,
                    },
                    "candidate": {
                        "status": 200,
                        "headers": {"content-type": "application/json"},
                        "body": cand_body,
                        "elapsed_ms": 1.9,
                    },
                    "curl": {
                        "legacy": f"curl -X GET 'http://127.0.0.1:41234{op.split()[1]}'",
                        "candidate": f"curl -X GET 'http://127.0.0.1:41235{op.split()[1]}'",
                    },
                }
            ],
            "diff": [{"location": location, "summary": f"{kind} at {location}", **d} for d in diff],
            "other_diffs": [],
            "db_writes": extra.pop("db_writes", {"legacy": {}, "candidate": {}}),
        },
    }
    finding.update(extra)
    return finding


@pytest.fixture
def agreeing() -> dict[str, Any]:
    return _base()


@pytest.fixture
def drifting() -> dict[str, Any]:
    r = copy.deepcopy(_base())
    r["run_id"] = "20261124T111500Z-0002"
    r["verdict"] = "drift"
    r["exit_code"] = 1
    r["operations"][0] = _op("GET /api/cases", 40, 37, findings=1)
    r["operations"][1] = _op("POST /api/cases", 40, 38, findings=1)
    r["operations"][2] = _op("GET /api/alerts/{id}", 40, 40, accepted=1)
    r["findings"] = [
        _finding(
            "f-format01",
            "GET /api/cases",
            "body:$.data[*].createdAt",
            "format",
            {"data": [{"id": 1, "createdAt": "2026-01-01T00:00:00.000Z"}]},
            {"data": [{"id": 1, "createdAt": "2026-01-01T00:00:00+00:00"}]},
            [
                {
                    "path": "$.data[0].createdAt",
                    "kind": "format",
                    "legacy": "2026-01-01T00:00:00.000Z",
                    "candidate": "2026-01-01T00:00:00+00:00",
                    "summary": "createdAt: '.000Z' vs '+00:00'",
                }
            ],
        ),
        _finding(
            "f-dbwrite1",
            "POST /api/cases",
            "db:events",
            "db_insert",
            {"id": 301},
            {"id": 301},
            [
                {
                    "path": "db:events",
                    "kind": "db_insert",
                    "legacy": 1,
                    "candidate": 0,
                    "summary": "events: 1 row inserted vs 0",
                }
            ],
            db_writes={
                "legacy": {
                    "events": {"inserted": [{"id": 9, "kind": "case.created"}]},
                    "cases": {"inserted": [{"id": 301}]},
                },
                "candidate": {"cases": {"inserted": [{"id": 301}]}},
            },
        ),
        _finding(
            "f-accept01",
            "GET /api/alerts/{id}",
            "body:$.updatedAt",
            "value",
            {"updatedAt": "2026-01-01T00:00:00.000Z"},
            {"updatedAt": "2026-01-01T00:00:00.005Z"},
            [
                {
                    "path": "$.updatedAt",
                    "kind": "value",
                    "legacy": "a",
                    "candidate": "b",
                    "summary": "clock",
                }
            ],
            accepted=True,
            accepted_reason="clock skew between two processes",
            accepted_expires="2027-06-30",
        ),
    ]
    r["accepted"] = [
        {
            "operation": "GET /api/alerts/{id}",
            "location": "body:$.updatedAt",
            "kind": "value",
            "reason": "clock skew between two processes",
            "expires": "2027-06-30",
            "matched": 1,
            "expired": False,
        },
        {
            "operation": "GET /api/health",
            "location": "body:$.time",
            "kind": "value",
            "reason": "clock",
            "expires": "2026-01-01",
            "matched": 0,
            "expired": True,
        },
    ]
    r["invariants"][1] = {
        "name": "every_write_leaves_one_event",
        "passed": False,
        "target": "candidate",
        "message": "POST /api/cases (201) wrote 0 events rows",
    }
    return r
