"""Reduction: callers kept whole, every signature covered, ids' creators pulled in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.setup.contract import load_contract
from harness.traffic.capture import (
    Body,
    Capture,
    CapturedAnswer,
    CapturedRequest,
    Exchange,
    Header,
    Timings,
)
from harness.traffic.reduce import chain, reduce_capture

CONTRACT = Path(__file__).resolve().parents[2] / "contracts" / "openapi.yaml"
T0 = datetime(2026, 1, 5, tzinfo=UTC)


def _ex(
    seq: int, caller: str, method: str, path: str, status: int, body: object = None
) -> Exchange:
    return Exchange(
        seq=seq,
        caller=caller,
        request=CapturedRequest(method=method, path=path),
        answer=CapturedAnswer(
            status=status,
            body=Body(media_type="application/json", text=json.dumps(body)) if body else None,
        ),
        timings=Timings(started=T0),
    )


def test_reduce_keeps_requests_that_add_coverage_and_their_dependencies() -> None:
    exchanges = [
        _ex(0, "creator", "POST", "/api/cases", 201, {"id": 900, "title": "t"}),
        _ex(1, "reader", "GET", "/api/cases/900", 200, {"id": 900, "title": "t"}),
        _ex(2, "reader", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(3, "twin", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(4, "twin", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(5, "broken", "GET", "/api/health", 500, {"error": "x"}),
        # repeats the creator's create (dropped); the writer's read adds coverage (kept)
        _ex(6, "writer", "POST", "/api/cases", 201, {"id": 901, "title": "t"}),
        _ex(7, "writer", "GET", "/api/alerts/count", 200, {"total": 1}),
    ]
    red = reduce_capture(Capture(Header(created=T0), exchanges), load_contract(CONTRACT), "")
    assert red.dropped_callers == ["twin"]
    assert set(red.kept_callers) == {"creator", "reader", "broken", "writer"}
    assert [e.seq for e in red.capture.exchanges] == [0, 1, 2, 5, 7]
    assert "kept 5 of 8 exchanges" in red.summary()
    assert "dropped callers: twin" in red.summary()


def test_an_entry_chain_holds_its_caller_before_it_and_the_creates_it_uses() -> None:
    exchanges = [
        _ex(0, "creator", "POST", "/api/cases", 201, {"id": 900, "title": "t"}),
        _ex(1, "other", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(2, "reader", "GET", "/api/alerts/count", 200, {"total": 1}),
        _ex(3, "creator", "POST", "/api/cases", 201, {"id": 901, "title": "later"}),
        _ex(4, "reader", "GET", "/api/cases/900", 200, {"id": 900, "title": "t"}),
        _ex(5, "reader", "GET", "/api/health", 200, {"status": "ok"}),
    ]
    cap = Capture(Header(created=T0), exchanges)
    # the reader's earlier request and the create of 900, not the creator's later write
    assert [e.seq for e in chain(cap, 4).exchanges] == [0, 2, 4]
    assert [e.seq for e in chain(cap, 2).exchanges] == [2]
    with pytest.raises(KeyError):
        chain(cap, 99)


def test_reduce_keeps_a_request_per_role() -> None:
    exchanges = [
        _ex(0, "ana", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(1, "bo", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(2, "cy", "GET", "/api/health", 200, {"status": "ok"}),
    ]
    cap = Capture(Header(created=T0), exchanges)
    contract = load_contract(CONTRACT)
    assert len(reduce_capture(cap, contract, "").kept_callers) == 1  # one role: one caller
    roles = {"ana": "admin", "bo": "analyst", "cy": "analyst"}
    red = reduce_capture(cap, contract, "", roles)
    assert sorted(red.kept_callers, key=str) == ["ana", "bo"]  # the admin's and one analyst
    assert "(operation, role, status, shape, parameters)" in red.summary()


def test_reduce_samples_by_session_and_keeps_the_writes_a_kept_session_builds_on() -> None:
    login = {"token": "t"}
    exchanges = [
        _ex(0, "ana", "POST", "/api/auth/login", 200, login),
        _ex(1, "ana", "POST", "/api/cases", 201, {"id": 900, "title": "t"}),
        _ex(2, "ana", "PATCH", "/api/cases/900", 200, {"id": 900, "status": "in_progress"}),
        _ex(3, "ana", "POST", "/api/auth/login", 200, login),  # a second session of ana
        _ex(4, "ana", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(5, "ana", "POST", "/api/auth/login", 200, login),  # a third one
        _ex(6, "ana", "GET", "/api/health", 200, {"status": "ok"}),
        _ex(7, "bo", "POST", "/api/auth/login", 200, login),
        _ex(8, "bo", "GET", "/api/alerts/count", 200, {"total": 1}),
        _ex(9, "bo", "GET", "/api/cases/900", 200, {"id": 900, "status": "in_progress"}),
    ]
    red = reduce_capture(Capture(Header(created=T0), exchanges), load_contract(CONTRACT), "")
    # ana's third session repeats her second: dropped, though ana is kept; bo's read of 900
    # pulls in the session that created it and moved it to in_progress
    assert [e.seq for e in red.capture.exchanges] == [0, 1, 2, 3, 4, 7, 8, 9]
    assert "2 of 3 caller sessions" not in red.summary()
    assert "3 of 4 caller sessions" in red.summary()


def test_a_request_differing_only_by_a_non_standard_header_is_kept() -> None:
    def create(seq: int, headers: list[tuple[str, str]], status: int = 201) -> Exchange:
        ex = _ex(seq, "ana", "POST", "/api/cases", status, {"id": 900 + seq})
        sent = [("content-type", "application/json"), *headers]
        return ex.model_copy(update={"request": ex.request.model_copy(update={"headers": sent})})

    exchanges = [
        create(0, [("user-agent", "a"), ("accept", "application/json")]),
        # transport and standard headers alone do not make a request new
        create(1, [("user-agent", "b"), ("x-forwarded-for", "10.0.0.1"), ("connection", "close")]),
        # a preference can change the answer: new, kept (even with the same status and shape)
        create(2, [("Prefer", "return=representation")]),
        create(3, [("prefer", "return=minimal")]),  # the same header name again: dropped
    ]
    red = reduce_capture(Capture(Header(created=T0), exchanges), load_contract(CONTRACT), "")
    assert [e.seq for e in red.capture.exchanges] == [0, 2]
    assert red.signatures == 2


def test_coverage_keeps_a_request_that_runs_new_port_code_with_its_id_chain() -> None:
    exchanges = [
        _ex(0, "a", "POST", "/api/cases", 201, {"id": 900, "title": "t"}),
        _ex(1, "a", "GET", "/api/cases/900", 200, {"id": 900, "title": "t"}),
        _ex(2, "b", "POST", "/api/cases", 201, {"id": 901, "title": "t"}),
        # the same signature as seq 1, but it runs a branch seq 1 did not
        _ex(3, "b", "GET", "/api/cases/901", 200, {"id": 901, "title": "t"}),
        # the same signature, and nothing new
        _ex(4, "b", "GET", "/api/cases/900", 200, {"id": 900, "title": "t"}),
    ]
    cap = Capture(Header(created=T0), exchanges)
    contract = load_contract(CONTRACT)
    arcs = {
        0: frozenset({("w.py", 1, 2)}),
        1: frozenset({("r.py", 1, 2)}),
        2: frozenset({("w.py", 1, 2)}),
        3: frozenset({("r.py", 1, 2), ("r.py", 2, 5)}),
        4: frozenset({("r.py", 1, 2)}),
    }
    plain = reduce_capture(cap, contract, "")
    assert [e.seq for e in plain.capture.exchanges] == [0, 1]
    assert "for coverage" not in plain.summary()
    covered = reduce_capture(cap, contract, "", covered=arcs)
    # seq 3 for its arc, seq 2 because it created the row seq 3 reads
    assert [e.seq for e in covered.capture.exchanges] == [0, 1, 2, 3]
    assert (covered.for_coverage, covered.for_coverage_closure) == (1, 1)
    assert "1 kept for coverage of the port (+1 they need)" in covered.summary()
