"""Accepted differences scoped to their cause (``when``), and an accepted status that still
compares the rest (issue 24)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from pydantic import ValidationError

from harness.cases.generation import build_request
from harness.compare.comparison import compare_exchange
from harness.compare.conditions import holds
from harness.compare.findings import Findings
from harness.compare.normalization import RuleSet
from harness.models import Difference, ExchangeResult, PreparedRequest, Response
from harness.setup.config import AcceptRule, CompareConfig, NormalizeRule, RequestCondition


def req(
    body: Any = None,
    *,
    path: str = "/api/cases",
    role: str | None = "admin",
    query: tuple[tuple[str, str], ...] = (),
) -> PreparedRequest:
    return build_request(
        operation="POST /api/cases",
        method="POST",
        path=path,
        query=query,
        headers=(),
        role=role,
        mode="positive",
        json_body=body,
    )


def when(**spec: Any) -> RequestCondition:
    return RequestCondition.model_validate(spec)


def test_a_value_holding_the_text_is_found_wherever_the_service_reads_it() -> None:
    nul = when(value_contains="\u0000")
    assert holds(nul, req({"title": "a\u0000b"}))
    assert holds(nul, req({"tags": [{"name": "x\u0000"}]}))
    assert holds(nul, req({"t": "x"}, path="/api/cases/a%00b"))
    assert holds(nul, req({"t": "x"}, query=(("q", "\u0000"),)))
    assert not holds(nul, req({"title": "plain"}))
    assert not holds(nul, None)  # no request known: the rule does not apply


def test_a_body_path_pattern_and_a_role() -> None:
    long_title = when(body_path="$.title", matches=".{10,}")
    assert holds(long_title, req({"title": "x" * 12}))
    assert not holds(long_title, req({"title": "short"}))
    assert not holds(long_title, req({"name": "x" * 12}))
    viewer = when(role=["viewer", "anonymous"])
    assert holds(viewer, req({}, role=None))
    assert holds(viewer, req({}, role="viewer#3"))  # a session of its own is still the role
    assert not holds(viewer, req({}, role="admin"))
    with pytest.raises(ValidationError):
        when()
    with pytest.raises(ValidationError):
        when(matches="x")


def _findings(**rule: Any) -> Findings:
    spec = {
        "operation": "*",
        "location": "*",
        "kind": "*",
        "reason": "r",
        "expires": dt.date(2099, 1, 1),
        **rule,
    }
    return Findings([AcceptRule.model_validate(spec)])


def _result(r: PreparedRequest, diffs: list[Difference]) -> ExchangeResult:
    answer = Response(201, (), {}, "", 1.0)
    return ExchangeResult(r, answer, answer, None, None, diffs)


def test_a_conditional_accept_covers_its_cause_and_leaves_the_same_place_open_elsewhere() -> None:
    findings = _findings(when={"value_contains": "\u0000"})
    diff = Difference("status:201 vs 400", "status", "status", 201, 400, "status 201 vs 400")
    nul, plain = req({"title": "a\u0000"}), req({"title": "a"})
    assert findings.accepted("POST /api/cases", diff, nul)
    assert not findings.accepted("POST /api/cases", diff, plain)
    assert not findings.accepted("POST /api/cases", diff)  # without the request: open
    # grouped apart: the first (accepted) case does not take the drift on another request
    findings.record(_result(nul, [findings.scoped(nul, diff)]))
    findings.record(_result(plain, [findings.scoped(plain, diff)]))
    groups = findings.all_groups()
    assert len(groups) == 2
    assert sorted(g.accepted_by is not None for g in groups) == [False, True]
    # writes that stay in the state (a sequence) were caused by any earlier step's request
    db = Difference("db:t.c", "db_insert", "t[1]", 1, 2, "row")
    assert findings.scoped(plain, db, [nul]).accepted_when == 0
    assert findings.scoped(plain, diff, [nul]).accepted_when is None


def test_an_accepted_status_pair_still_compares_the_body() -> None:
    legacy = Response(201, (), {"price": 4.5}, '{"price": 4.5}', 1.0)
    candidate = Response(200, (), {"price": 5.5}, '{"price": 5.5}', 1.0)
    rules = RuleSet([], "POST /items")
    config = CompareConfig()
    plain = compare_exchange(legacy, candidate, None, None, rules, config)
    assert [d.kind for d in plain] == ["status"]  # a status difference alone: its root cause
    accepted = compare_exchange(
        legacy, candidate, None, None, rules, config, accepted=lambda d: d.kind == "status"
    )
    assert {(d.location, d.kind) for d in accepted} == {
        ("status:201 vs 200", "status"),
        ("body:$.price", "value"),
    }
    # a status rule: the two statuses are the same answer, the body is compared
    rule = NormalizeRule.model_validate(
        {"location": "status", "action": "status", "legacy": "201", "candidate": "200"}
    )
    ruled = compare_exchange(legacy, candidate, None, None, RuleSet([rule], "POST /items"), config)
    assert {(d.location, d.kind) for d in ruled} == {("body:$.price", "value")}
