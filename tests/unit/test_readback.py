"""Reads after writes: which reads follow a write, learned from the tables it touched and
the path parameters it can give; the written item first."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from harness.cases.generation import build_request
from harness.cases.sequences import fill
from harness.compare.normalization import RuleSet
from harness.models import ExchangeResult, PreparedRequest, Response
from harness.run.context import RunStats
from harness.run.readback import (
    Affects,
    ReadBack,
    bare_query,
    open_reads,
    plan,
    queries,
    reads_for,
)
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


# -- what the run learns: reads whose answers changed after writes to a table come first ----
OPEN = [
    _op("GET", "/api/cases"),
    _op("GET", "/api/cases/{id}"),
    _op("GET", "/api/export"),
    _op("GET", "/api/search"),
    _op("GET", "/api/pulse"),
    _op("GET", "/api/health"),
    _op("POST", "/api/cases"),
]


def _plan(affects: Affects, budget: int, order: dict[str, int] | None = None) -> list[str]:
    op, req = _write("POST", "/api/cases")
    return [r.id for r, _ in plan(OPEN, op, req, {"cases"}, affects, budget, order)]


def test_every_read_without_path_parameters_is_a_candidate_not_only_named_ones() -> None:
    got = _plan(Affects({}, {}), 10)
    assert got[0] == "GET /api/cases/{id}"  # the written item, then the named list
    assert got[1] == "GET /api/cases"
    # exports, search and aggregates are read after the write too, in the seed's order
    assert got[2:] == ["GET /api/export", "GET /api/search", "GET /api/pulse", "GET /api/health"]
    order = {"GET /api/health": 0, "GET /api/pulse": 1, "GET /api/search": 2, "GET /api/export": 3}
    assert _plan(Affects({}, {}), 10, order)[2:] == [
        "GET /api/health",
        "GET /api/pulse",
        "GET /api/search",
        "GET /api/export",
    ]
    assert _plan(Affects({}, {}), 3) == ["GET /api/cases/{id}", "GET /api/cases", "GET /api/export"]
    assert _plan(Affects({}, {}), 0) == []


def test_a_read_that_changed_after_a_write_to_a_table_comes_first_for_that_table() -> None:
    affects = Affects({}, {})
    affects.learn({"cases", "events"}, "GET /api/pulse", changed=True)
    affects.learn({"cases"}, "GET /api/export", changed=False)
    affects.learn({"cases"}, "GET /api/export", changed=False)  # quiet for cases now
    assert affects.hits({"cases"}, "GET /api/pulse") == 1
    assert affects.quiet({"cases"}, "GET /api/export")
    got = _plan(affects, 10)
    assert got[:2] == ["GET /api/cases/{id}", "GET /api/pulse"]  # learned, before named ones
    assert got[-1] == "GET /api/export"  # quiet: last
    # a write to another table has learned nothing: pulse is only explored there
    op, req = _write("POST", "/api/cases")
    other = [r.id for r, _ in plan(OPEN, op, req, {"alerts"}, affects, 10)]
    assert other.index("GET /api/pulse") > other.index("GET /api/export")


def test_learned_reads_filling_the_budget_leave_one_slot_to_explore() -> None:
    affects = Affects({}, {})
    for read in ("GET /api/pulse", "GET /api/health"):
        affects.learn({"cases"}, read, changed=True)
    affects.learn({"cases"}, "GET /api/pulse", changed=True)  # changed twice: first
    got = _plan(affects, 3)
    assert got[:2] == ["GET /api/cases/{id}", "GET /api/pulse"]
    assert got[2] == "GET /api/cases"  # not health (learned): a read still explored
    # the least tried read is explored next
    affects.learn({"cases"}, "GET /api/cases", changed=False)
    assert _plan(affects, 3)[2] == "GET /api/export"


def test_the_bare_query_holds_each_required_parameter_at_its_first_value() -> None:
    def with_query(*params: dict[str, Any]) -> Operation:
        query = [SimpleNamespace(name=p["name"], definition=p) for p in params]
        api = SimpleNamespace(definition=SimpleNamespace(raw={}), query=query)
        return Operation("GET /api/x", "GET", "/api/x", None, ("200",), api)

    op = with_query(
        {"name": "q", "required": True, "schema": {"examples": ["refund", "x"]}},
        {"name": "resource", "required": True, "schema": {"enum": ["cases", "alerts"]}},
        {"name": "flag", "required": True, "schema": {"default": True}},
        {"name": "sort", "schema": {"examples": ["title"]}},  # optional: left out
    )
    bare = [("q", "refund"), ("resource", "cases"), ("flag", "true")]
    assert bare_query(op) == bare
    # in turn after a write: the bare query, then each example on top of it
    assert queries(op) == [
        bare,
        [("resource", "cases"), ("flag", "true"), ("q", "x")],
        [("q", "refund"), ("flag", "true"), ("resource", "alerts")],
        [*bare, ("sort", "title")],  # an optional parameter's example, on top
    ]
    missing = with_query({"name": "q", "required": True, "schema": {}})
    assert bare_query(missing) is None
    assert queries(missing) == []
    assert [o.id for o in open_reads(OPEN)] == [
        "GET /api/cases",
        "GET /api/export",
        "GET /api/search",
        "GET /api/pulse",
        "GET /api/health",
    ]


# -- ReadBack over a fake pair: what it sends after a write and what it learns ------------------
class _Pair:
    """Answers per (operation, state): the state is "written" from a write to the restore."""

    has_twin = False

    def __init__(self, answers: dict[tuple[str, str], Any]) -> None:
        self.watchers = {"legacy": object()}
        self.answers = answers
        self.state = "snapshot"
        self.sent: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []

    def answer(self, req: PreparedRequest) -> Response:
        body = self.answers[(req.operation, self.state)]
        if callable(body):
            body = body()
        return Response(200, (), body, json.dumps(body), 1.0)

    def send_one(self, key: str, req: PreparedRequest) -> Response:
        self.sent.append((self.state, req.operation, req.query))
        return self.answer(req)

    def restore(self, *, wrote: bool = True) -> None:
        self.state = "snapshot"


class _Ctx:
    def __init__(self, pair: _Pair, ops: list[Operation], per_write: int) -> None:
        self.pair = pair
        self.everything = ops
        self.seed = 1
        self.phase = "stateless"
        self.profile = SimpleNamespace(readback_max=per_write)
        self.stats = RunStats()
        self.findings = SimpleNamespace(live=lambda result: [], add_readback=lambda w, r: None)

    def rules(self, op_id: str, req: PreparedRequest | None = None) -> RuleSet:
        return RuleSet([], op_id)

    def ends_session(self, op_id: str) -> bool:
        return False

    def exchange(
        self, req: PreparedRequest, candidate_req: PreparedRequest | None = None, **_: Any
    ) -> ExchangeResult:
        self.pair.sent.append((self.pair.state, req.operation, req.query))
        answer = self.pair.answer(req)
        return ExchangeResult(req, answer, answer, None, None, [])


def _created(ctx: _Ctx, op: Operation, req: PreparedRequest) -> ExchangeResult:
    """The write as sent: the pair's state is now the written one."""
    ctx.pair.state = "written"
    answer = Response(201, (), {"id": 301}, "", 1.0)
    writes = {"cases": [], "sqlite_sequence": []}
    return ExchangeResult(req, answer, answer, writes, writes, [])  # type: ignore[arg-type]


def _op_with_query(method: str, path: str, *params: dict[str, Any]) -> Operation:
    query = [SimpleNamespace(name=p["name"], definition=p) for p in params]
    api = SimpleNamespace(definition=SimpleNamespace(raw={}), query=query)
    return Operation(f"{method} {path}", method, path, None, ("200", "201"), api)


def test_a_read_whose_answer_changed_after_a_write_is_learned_and_sent_first() -> None:
    clock = iter(range(1000))
    export = _op_with_query(
        "GET", "/api/export", {"name": "resource", "required": True, "schema": {"enum": ["cases"]}}
    )
    ops = [
        _op("GET", "/api/health"),  # volatile: differs between two sends on the snapshot
        _op("GET", "/api/pulse"),  # never changes
        export,  # changes after a write to cases
        _op_with_query("GET", "/api/search", {"name": "q", "required": True, "schema": {}}),
    ]
    write = _op_with_query("POST", "/api/tickets")  # no read names its table by a word
    answers: dict[tuple[str, str], Any] = {
        ("GET /api/health", "snapshot"): lambda: {"now": next(clock)},
        ("GET /api/health", "written"): lambda: {"now": next(clock)},
        ("GET /api/pulse", "snapshot"): {"n": 1},
        ("GET /api/pulse", "written"): {"n": 1},
        ("GET /api/export", "snapshot"): "id\r\n1\r\n",
        ("GET /api/export", "written"): "id\r\n1\r\n301\r\n",
    }
    pair = _Pair(answers)
    ctx = _Ctx(pair, ops, per_write=2)
    readback = ReadBack(ctx, budget=10)  # type: ignore[arg-type]
    _, req = _write("POST", "/api/tickets")
    assert readback.wants(write, req)
    per_write: list[list[str]] = []
    for _ in range(4):
        start = len(pair.sent)
        readback.follow(write, _created(ctx, write, req))
        assert pair.state == "snapshot"  # restored after each
        per_write.append([op for state, op, _ in pair.sent[start:] if state == "written"])
    assert all(1 <= len(reads) <= 2 for reads in per_write)
    learned = readback.affects(write)
    assert set(learned.changed) == {"cases"}  # the engine's sqlite_sequence is not a table here
    first = next(i for i, reads in enumerate(per_write) if "GET /api/export" in reads)
    assert learned.changed["cases"]["GET /api/export"] == len(per_write) - first
    # once learned, the export is the first read after every later write of the operation
    assert all(reads[0] == "GET /api/export" for reads in per_write[first + 1 :])
    assert learned.quiet({"cases"}, "GET /api/pulse")  # tried twice, never changed
    assert learned.hits({"cases"}, "GET /api/health") == 0  # volatile: teaches nothing
    assert learned.tries({"cases"}, "GET /api/health") >= 1
    assert learned.quiet({"cases"}, "GET /api/search")  # required q without a value: left out
    assert not any("GET /api/search" in reads for reads in per_write)
    sent = {(op, q) for state, op, q in pair.sent if state == "written"}
    assert ("GET /api/export", (("resource", "cases"),)) in sent  # its required query
    # the snapshot's answer is asked for once per request (twice: volatility), not per write
    baseline = [op for state, op, _ in pair.sent if state == "snapshot"]
    assert baseline.count("GET /api/export") == 2
    # the same write with the budget at 0: nothing kept, nothing read
    off = ReadBack(_Ctx(_Pair(answers), ops, per_write=0), budget=10)  # type: ignore[arg-type]
    assert not off.wants(write, req)
