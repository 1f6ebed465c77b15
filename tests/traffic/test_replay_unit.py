"""Replay's parts without services: routing, id mapping per side, time shift, attribution."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from harness.setup.contract import load_contract
from harness.traffic.replay import IdMap, Router, TimeShift

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"


def test_router_prefers_literal_paths() -> None:
    router = Router(load_contract(CONTRACT), "")
    hit = router.match("GET", "/api/alerts/count")
    assert hit is not None
    assert hit[0].id == "GET /api/alerts/count"
    hit = router.match("get", "/api/cases/12/shares")
    assert hit is not None
    assert hit[0].id == "GET /api/cases/{id}/shares"
    assert hit[1] == (("id", "12"),)
    assert router.match("GET", "/api/nowhere") is None


def test_ids_are_mapped_per_side() -> None:
    ids = IdMap()
    ids.learn({"id": 310, "title": "x", "assigneeId": None}, "legacy", {"id": 307, "title": "x"})
    ids.learn({"id": 310}, "candidate", {"id": 308})
    assert ids.path("legacy", "/api/cases/310/chat") == "/api/cases/307/chat"
    assert ids.path("candidate", "/api/cases/310") == "/api/cases/308"
    assert ids.path("legacy", "/api/cases/31") == "/api/cases/31"
    assert ids.query("legacy", [("caseId", "310"), ("page", "310")]) == [
        ("caseId", "307"),
        ("page", "310"),
    ]
    body = {"caseId": 310, "note": "310", "ids": [310, 1]}
    assert ids.body("candidate", body) == {"caseId": 308, "note": "310", "ids": [308, 1]}


def test_time_values_move_and_keep_their_format() -> None:
    shift = TimeShift(timedelta(days=2, hours=1))
    assert shift.value("2026-01-05T09:00:00.000Z") == "2026-01-07T10:00:00.000Z"
    assert shift.value("2026-01-05T09:00:00+00:00") == "2026-01-07T10:00:00+00:00"
    assert shift.value("2026-01-05") == "2026-01-07"
    assert shift.value("not a time 2026-01-05") == "not a time 2026-01-05"
    assert shift.body({"due": "2026-01-05", "n": 3}) == {"due": "2026-01-07", "n": 3}


def test_csv_cells_allowed_by_a_rule_are_not_a_format_difference() -> None:
    """Traffic exports rows it created: each side stamped their times (within the rules);
    bytes that differ because of those cells are not "written differently"."""
    from harness.compare.comparison import compare_exchange
    from harness.compare.normalization import RuleSet
    from harness.models import Response
    from harness.setup.config import CompareConfig, NormalizeRule

    rules = RuleSet(
        [
            NormalizeRule.model_validate(
                {"location": "body:$..createdAt", "action": "ignore", "reason": "clock"}
            )
        ],
        "GET /x",
    )
    head = "id,createdAt\r\n"

    def csv(text: str) -> Response:
        return Response(200, (("content-type", "text/csv"),), text, text, 1.0)

    a = csv(head + "1,2026-01-01T00:00:00.001Z\r\n")
    b = csv(head + "1,2026-01-01T00:00:00.004Z\r\n")
    assert compare_exchange(a, b, None, None, rules, CompareConfig()) == []
    quoted = csv(head + '"1","2026-01-01T00:00:00.001Z"\r\n')
    found = compare_exchange(a, quoted, None, None, rules, CompareConfig())
    assert [d.kind for d in found] == ["format"]  # same cells, other bytes: still caught


def test_a_replay_drops_captured_signatures_and_keeps_idempotency_keys() -> None:
    """The captured signature signs the captured bytes; the replayed body has its ids mapped,
    so the transport must sign it anew (it signs only when no signature header is there)."""
    from datetime import UTC, datetime

    from harness.run.phases.traffic import Replay
    from harness.traffic.capture import Body, CapturedRequest, Exchange, Timings
    from harness.traffic.replay import Step, TrafficPlan

    contract = load_contract(CONTRACT)
    hit = Router(contract, "").match("POST", "/api/cases/310/chat")
    assert hit is not None
    ex = Exchange(
        seq=3,
        request=CapturedRequest(
            method="POST",
            path="/api/cases/310/chat",
            headers=[
                ("X-Signature", "sha256=captured"),
                ("X-Signature-Timestamp", "1700000000"),
                ("Idempotency-Key", "k-1"),
                ("content-type", "application/json"),
            ],
            body=Body(media_type="application/json", text='{"caseId": 310, "text": "hi"}'),
        ),
        timings=Timings(started=datetime(2026, 1, 5, tzinfo=UTC)),
    )
    step = Step("c.jsonl#3", ex, hit[0], hit[1], None)
    replay = Replay(TrafficPlan([step], Counter(), None, None))
    ids = IdMap()
    ids.learn({"id": 310}, "candidate", {"id": 311})
    shift = TimeShift(timedelta(0))
    unsigned = dict(replay._request(step, "candidate", ids, shift).headers)
    assert unsigned["X-Signature"] == "sha256=captured"  # no [auth.signing]: as captured
    replay._resign = frozenset({"x-signature", "x-signature-timestamp"})
    req = replay._request(step, "candidate", ids, shift)
    headers = dict(req.headers)
    assert "X-Signature" not in headers
    assert "X-Signature-Timestamp" not in headers
    assert headers["Idempotency-Key"] == "k-1"
    assert headers["x-parity-capture"] == "c.jsonl#3"
    assert req.path == "/api/cases/311/chat"
    assert req.body == {"caseId": 311, "text": "hi"}


def test_a_read_finding_is_shrunk_on_both_sides_in_lockstep() -> None:
    """The drift needs only ``status``: the other query parameter is dropped from the example,
    the entry header stays, each side keeps its own mapped id; a write is never shrunk."""
    from types import SimpleNamespace

    from harness.compare.findings import Group
    from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest, Response
    from harness.run.phases.traffic import Replay
    from harness.traffic.replay import ENTRY_HEADER

    def req(path: str, method: str = "GET") -> PreparedRequest:
        return PreparedRequest(
            operation="GET /api/cases/{id}/chat",
            method=method,
            path=path,
            query=(("status", "open"), ("page", "2")),
            headers=((ENTRY_HEADER, "c.jsonl#5"), ("accept", "application/json")),
            content=None,
            body=NOT_SET,
            media_type=None,
            role="agent",
            mode="positive",
        )

    sent: list[tuple[PreparedRequest, PreparedRequest | None]] = []
    ok = Response(200, (), {}, "{}", 1.0)

    def exchange(
        lreq: PreparedRequest, creq: PreparedRequest | None = None, restore: bool = False
    ) -> ExchangeResult:
        assert not restore  # a restore would lose the rows the replay built
        sent.append((lreq, creq))
        drift = [Difference("body:$.n", "value", "$.n", 1, 2, "n differs")]
        hit = ("status", "open") in lreq.query
        return ExchangeResult(lreq, ok, ok, None, None, drift if hit else [], creq)

    first = exchange(req("/api/cases/7/chat"), req("/api/cases/8/chat"))
    group = Group("GET /api/cases/{id}/chat", "body:$.n", "value", 1, first, first.differences[0])
    ctx = SimpleNamespace(profile=SimpleNamespace(shrink_budget=20), exchange=exchange)
    Replay._shrink(ctx, [group], req("/api/cases/7/chat"), req("/api/cases/8/chat"))  # type: ignore[arg-type]
    small = group.example
    assert small.request.query == (("status", "open"),)
    assert small.request.path == "/api/cases/7/chat"
    assert small.candidate_request is not None
    assert small.candidate_request.path == "/api/cases/8/chat"
    assert dict(small.request.headers)[ENTRY_HEADER] == "c.jsonl#5"
    assert all(any(k == ENTRY_HEADER for k, _ in lr.headers) for lr, _ in sent)
    sent.clear()
    write = Group("GET /api/cases/{id}/chat", "body:$.n", "value", 1, first, first.differences[0])
    Replay._shrink(ctx, [write], req("/x", "POST"), req("/y", "POST"))  # type: ignore[arg-type]
    assert sent == []
    assert write.example is first


def test_later_differences_on_rows_a_request_wrote_differently_are_attributed_to_it() -> None:
    """Each request's writes are its own (the baseline moves after each): a row one request
    wrote differently differs again only where later requests write or read it. Those
    differences are that request's; a new column written differently, or a row another
    request inserts at the same place of its own writes, is a new difference."""
    from datetime import UTC, datetime

    from harness.models import NOT_SET, Difference, ExchangeResult, PreparedRequest, Response
    from harness.models import TableWrites as TW
    from harness.run.phases.traffic import Causes
    from harness.traffic.capture import CapturedRequest, Exchange, Timings
    from harness.traffic.replay import Step

    contract = load_contract(CONTRACT)
    router = Router(contract, "")
    ok = Response(200, (), {}, "{}", 1.0)
    causes = Causes()

    def send(
        seq: int, method: str, path: str, diffs: list[Difference], inserted: int | None = None
    ) -> list[str]:
        hit = router.match(method, path)
        assert hit is not None
        ex = Exchange(
            seq=seq,
            request=CapturedRequest(method=method, path=path),
            timings=Timings(started=datetime(2026, 1, 5, tzinfo=UTC)),
        )
        step = Step(f"c.jsonl#{seq}", ex, hit[0], hit[1], None)
        req = PreparedRequest(
            operation=hit[0].id,
            method=method,
            path=path,
            query=(),
            headers=(),
            content=None,
            body=NOT_SET,
            media_type=None,
            role=None,
            mode="positive",
        )
        writes = {"cases": TW(inserted=[{"rowid": inserted}])} if inserted else None
        result = ExchangeResult(req, ok, ok, writes, writes, diffs, None)
        return [d.path for d in causes.attribute(step, result)]

    def db(path: str, kind: str = "db_update", a: object = 1, b: object = 2) -> Difference:
        table = path.split("[", 1)[0]
        column = path.rsplit(".", 1)[-1] if "." in path else ""
        location = f"db:{table}.{column}" if column else f"db:{table}"
        return Difference(location, kind, path, a, b, path)

    stamp = db("cases[rowid=5].updated_at")
    assert send(1, "PATCH", "/api/cases/5", [stamp]) == ["cases[rowid=5].updated_at"]
    body = Difference("body:$.updatedAt", "value", "$.updatedAt", 1, 2, "updatedAt")
    assert send(2, "GET", "/api/cases/5", [body]) == []  # read back: request 1's
    status = db("cases[rowid=5].status")
    assert send(3, "PATCH", "/api/cases/5", [stamp, status]) == ["cases[rowid=5].status"]
    # an inserted row is named by its key: written again later, still request 4's
    title = db("cases[+0].title", "db_insert")
    assert send(4, "POST", "/api/cases", [title], inserted=9) == ["cases[+0].title"]
    assert send(5, "PATCH", "/api/cases/9", [db("cases[rowid=9].title")]) == []
    # another request's first insert is another row: its own difference
    assert send(6, "POST", "/api/cases", [title], inserted=10) == ["cases[+0].title"]
    # a row one side alone updated: any later difference on it is that request's
    one_side = db("cases", a=[12], b=[])
    assert send(7, "PATCH", "/api/cases/12", [one_side]) == ["cases"]
    later = [db("cases[rowid=12].priority"), db("cases", "db_delete", ["12"], [])]
    assert send(8, "DELETE", "/api/cases/12", later) == []
    assert send(9, "GET", "/api/cases/12", [body]) == []
    assert send(10, "GET", "/api/cases/13", [body]) == ["$.updatedAt"]


def test_the_captures_subscriptions_become_one_stream_per_path_and_role() -> None:
    """Each channel a capture subscribed to is opened again as its subscriber's role (callers
    mapped like requests'; no credentials: anonymous), once per path and role, the base path
    taken off; `[traffic] streams = false` skips them with their reason."""
    from datetime import UTC, datetime

    from harness.setup.traffic import CallerRule, TrafficConfig
    from harness.traffic.capture import Capture, CapturedRequest, Exchange, Header, Timings
    from harness.traffic.replay import SUBSCRIPTIONS_SKIPPED, Subscribed, TrafficPlan

    def ex(seq: int, path: str, caller: str | None, *headers: tuple[str, str]) -> Exchange:
        return Exchange(
            seq=seq,
            caller=caller,
            request=CapturedRequest(method="GET", path=path, headers=list(headers)),
            timings=Timings(started=datetime(2026, 1, 5, tzinfo=UTC)),
        )

    ws = ("Upgrade", "websocket")
    cap = Capture(
        Header(created=datetime(2026, 1, 5, tzinfo=UTC)),
        [
            ex(0, "/v1/api/realtime", "p-agent", ws, ("authorization", "[redacted]")),
            ex(1, "/v1/api/cases", "p-agent", ("authorization", "[redacted]")),
            ex(2, "/v1/api/realtime", "p-agent", ws),  # the same caller again: one stream
            ex(3, "/v1/api/realtime", None, ws),  # nobody's: anonymous
            ex(4, "/v1/api/realtime", "p-admin", ws),
        ],
        source="/tmp/c.jsonl",
    )
    contract = load_contract(CONTRACT)
    settings = TrafficConfig(
        callers=[
            CallerRule(caller="p-agent", role="agent"),
            CallerRule(caller="p-admin", role="admin"),
        ]
    )
    roles = ["admin", "agent"]

    def build(s: TrafficConfig) -> TrafficPlan:
        return TrafficPlan.build([cap], contract, "/v1", roles, s, {}, lambda _: False)

    plan = build(settings)
    assert plan.subscriptions == [
        Subscribed("c.jsonl#0", "/api/realtime", "agent"),
        Subscribed("c.jsonl#3", "/api/realtime", None),
        Subscribed("c.jsonl#4", "/api/realtime", "admin"),
    ]
    assert [s.entry for s in plan.steps] == ["c.jsonl#1"]
    assert SUBSCRIPTIONS_SKIPPED not in plan.skipped
    off = build(settings.model_copy(update={"streams": False}))
    assert off.subscriptions == []
    assert off.skipped[SUBSCRIPTIONS_SKIPPED] == 4
