"""Reads after writes: which reads follow a write, learned from the tables it touched and
the path parameters it can give; the written item first."""

from __future__ import annotations

from types import SimpleNamespace

from harness.cases.generation import build_request
from harness.cases.sequences import fill
from harness.models import PreparedRequest
from harness.run.readback import reads_for
from harness.setup.contract import Operation


def _op(method: str, path: str) -> Operation:
    api = SimpleNamespace(definition=SimpleNamespace(raw={}))
    return Operation(f"{method} {path}", method, path, None, ("200",), api)


OPS = [
    _op("GET", "/api/cases"),
    _op("GET", "/api/cases/{id}"),
    _op("GET", "/api/cases/{id}/shares"),
    _op("GET", "/api/alerts/count"),
    _op("GET", "/api/feed"),
    _op("GET", "/api/events"),
    _op("GET", "/api/trending/{topic}"),
    _op("PATCH", "/api/cases/{id}"),
]


def _write(method: str, path: str, **params: str) -> tuple[Operation, PreparedRequest]:
    op = _op(method, path)
    req = build_request(
        operation=op.id,
        method=method,
        path=path,
        query=(),
        headers=(),
        role="admin",
        mode="positive",
    )
    return op, fill(req, path, params)


def test_an_update_reads_its_item_first_then_the_touched_tables_lists() -> None:
    op, req = _write("PATCH", "/api/cases/{id}", id="7")
    got = [(r.id, p) for r, p in reads_for(OPS, op, req, {"cases", "events"})]
    assert got[0] == ("GET /api/cases/{id}", {"id": "7"})
    assert ("GET /api/cases", {}) in got
    assert ("GET /api/events", {}) in got
    assert ("GET /api/cases/{id}/shares", {"id": "7"}) in got  # the same id, a sub-list
    # no table it touched: not read; a parameter the write cannot give: not read
    assert not {"GET /api/alerts/count", "GET /api/feed", "GET /api/trending/{topic}"} & {
        r for r, _ in got
    }
    assert "PATCH /api/cases/{id}" not in {r for r, _ in got}


def test_a_create_reads_the_item_by_the_id_it_answered_and_tables_by_their_words() -> None:
    op, req = _write("POST", "/api/cases")
    got = [r.id for r, _ in reads_for(OPS, op, req, {"cases"})]
    assert got[0] == "GET /api/cases/{id}"  # its id comes from the answer
    assert "GET /api/cases" in got
    op, req = _write("POST", "/api/feed")
    got = [r.id for r, _ in reads_for(OPS, op, req, {"feed_items"})]
    assert got == ["GET /api/feed"]
