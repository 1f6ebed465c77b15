"""One cause per request: what one request showed in several places is one finding."""

from __future__ import annotations

import datetime as dt

from harness.compare.findings import Findings
from harness.models import Difference, ExchangeResult, PreparedRequest, Response
from harness.setup.config import AcceptRule


def _result(op: str, *places: tuple[str, str]) -> ExchangeResult:
    req = PreparedRequest(op, "POST", "/x", (), (), None, None, None, None, "positive")
    ok = Response(200, (), None, "", 1.0)
    diffs = [Difference(loc, kind, loc, 1, 2, f"{loc} differs") for loc, kind in places]
    return ExchangeResult(req, ok, ok, None, None, diffs)


BODY = ("body:$.price", "value")
ROW = ("db:items.price", "db_insert")
EVENT = ("db:events.payload", "db_insert")


def test_what_one_request_showed_together_is_one_finding_body_first() -> None:
    findings = Findings(accept=[])
    findings.record(_result("POST /items", ROW, EVENT, BODY))
    findings.record(_result("POST /items", ROW, EVENT, BODY))
    findings.record(_result("POST /items", ROW))  # a request that showed only the row
    findings.record(_result("GET /other", ("body:$.name", "value")))
    merged = findings.together()
    assert sorted(len(m) for m in merged) == [1, 3]
    three = next(m for m in merged if len(m) == 3)
    assert (three[0].location, three[0].kind) == BODY  # the body is the primary
    assert {(g.location, g.kind): g.count for g in three}[ROW] == 3


def test_a_status_pair_and_an_accepted_location_never_travel_with_open_ones() -> None:
    accept = AcceptRule(
        operation="POST /items",
        location="body:$.price",
        kind="value",
        reason="intended",
        expires=dt.date(2099, 1, 1),
    )
    findings = Findings(accept=[accept])
    findings.record(_result("POST /items", ROW, EVENT, BODY))
    findings.record(_result("POST /items", ("status:201 vs 500", "status")))
    merged = [sorted(g.location for g in m) for m in findings.together()]
    assert sorted(merged) == [
        ["body:$.price"],
        ["db:events.payload", "db:items.price"],
        ["status:201 vs 500"],
    ]


def test_reads_after_writes_count_every_read_and_yield_to_a_single_requests_finding() -> None:
    """A read after a write is recorded whatever the run found before (so a shard records
    what one run records); a place a single request showed too is that finding only."""
    write = _result("PATCH /items/{id}")
    stale = ("body:$.updatedAt", "time")
    findings = Findings(accept=[])
    findings.add_readback(write, _result("GET /items/{id}", stale, BODY))
    findings.add_readback(write, _result("GET /items/{id}", stale))
    assert {(g.phase, g.location): g.count for g in findings.all_groups()} == {
        ("readback", "body:$.updatedAt"): 2,
        ("readback", "body:$.price"): 1,
    }
    findings.record(_result("GET /items/{id}", BODY))  # the snapshot shows the price too
    assert {(g.phase, g.location) for m in findings.together() for g in m} == {
        ("readback", "body:$.updatedAt"),
        ("stateless", "body:$.price"),
    }
    assert all(g.steps == [write, g.example] for g in findings.readback.values())
