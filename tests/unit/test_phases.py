"""Each phase on a context of two mock services: drift is caught, agreement stays quiet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from harness.run.outcome import RunMeta, build_results
from harness.run.phases import Probes, Stateless
from harness.setup.config import AcceptRule
from tests.unit.conftest import items_service, json_response, writes


def _meta(tmp: Path) -> RunMeta:
    return RunMeta("r", "default", 3, "external", "c", "p", ["stateless"], "t", 1.0)


def _keys(ctx: Any) -> set[tuple[str, str, str]]:
    return {g.key for g in ctx.findings.all_groups()}


def test_an_agreeing_pair_gives_no_findings_and_proves_what_it_reached(
    build: Any, tmp_path: Path
) -> None:
    built = build(items_service(), items_service(), operations=["GET /items"])
    Stateless().execute(built.ctx)
    assert not built.ctx.findings.all_groups()
    results = build_results(_meta(tmp_path), built.ctx.config, built.ctx)
    assert results.verdict == "agree"
    assert results.exit_code == 0
    assert results.operations[0].proven


def test_a_value_drift_is_one_finding_with_its_example(build: Any) -> None:
    built = build(items_service(), items_service(drift="value"), operations=["GET /items"])
    Stateless().execute(built.ctx)
    assert ("GET /items", "body:$.items[*].name", "value") in _keys(built.ctx)


def test_the_gate_is_incomplete_when_no_documented_success_was_seen(
    build: Any, tmp_path: Path
) -> None:
    """A viewer-only run where every case answers 403 on both sides proves nothing."""

    def forbidden(request: httpx.Request) -> httpx.Response:
        return json_response(403, {"error": "forbidden"})

    built = build(forbidden, forbidden, operations=["GET /items"], profile={"roles": ["viewer"]})
    Stateless().execute(built.ctx)
    results = build_results(_meta(tmp_path), built.ctx.config, built.ctx)
    assert not results.findings
    assert results.verdict == "incomplete"
    assert results.exit_code == 2
    assert [u.operation for u in results.unproven] == ["GET /items"]
    assert "403" in results.unproven[0].reason
    assert any("nothing was proven for: GET /items" in m for m in results.messages)


def test_an_allow_listed_unproven_operation_does_not_block(
    build: Any, config: Any, tmp_path: Path
) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        return json_response(403, {"error": "forbidden"})

    cfg = config.model_copy(
        update={
            "unproven": [
                type(config)
                .model_fields["unproven"]
                .annotation.__args__[0](operation="GET /items", reason="viewer-only profile")
            ]
        }
    )
    built = build(forbidden, forbidden, operations=["GET /items"], cfg=cfg)
    Stateless().execute(built.ctx)
    results = build_results(_meta(tmp_path), cfg, built.ctx)
    assert results.verdict == "agree"
    assert results.unproven[0].allowed


def test_status_pairs_are_separate_findings_and_accepting_one_accepts_only_it(
    build: Any, config: Any
) -> None:
    """A 500 never hides behind another status difference of the same operation."""
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/items":
            calls["n"] += 1
            if calls["n"] % 2:
                return httpx.Response(500, content=b"boom")
            return json_response(200, {"id": 2, "name": "new"})
        return items_service()(request)

    rule = AcceptRule(
        operation="POST /items",
        location="status:201 vs 200",
        kind="status",
        reason="r",
        expires=dt.date(2099, 1, 1),
    )
    cfg = config.model_copy(update={"accept": [rule]})
    built = build(
        items_service(), flaky, operations=["POST /items"], cfg=cfg, profile={"roles": ["admin"]}
    )
    Stateless().execute(built.ctx)
    groups = {g.location: g for g in built.ctx.findings.groups.values()}
    assert "status:201 vs 500" in groups
    assert "status:201 vs 200" in groups
    assert groups["status:201 vs 200"].accepted_by is rule
    assert groups["status:201 vs 500"].accepted_by is None


def test_write_differences_come_from_the_watchers_and_both_sides_are_restored(build: Any) -> None:
    built = build(
        items_service(),
        items_service(),
        operations=["POST /items"],
        profile={"roles": ["admin"], "shrink": False},
    )
    legacy, candidate = built.watchers["legacy"], built.watchers["candidate"]
    original = built.ctx.pair.send

    def send(*args: Any, **kw: Any) -> Any:
        legacy.pending = writes("events", id=1, kind="item.created")
        candidate.pending = writes("events", id=1, kind="item.create")
        return original(*args, **kw)

    built.ctx.pair.send = send  # type: ignore[method-assign]
    Stateless().execute(built.ctx)
    assert ("POST /items", "db:events.kind", "db_insert") in _keys(built.ctx)
    assert legacy.restores > 0
    assert candidate.restores > 0


def test_probes_catch_framework_drift_the_contract_does_not_list(build: Any) -> None:
    built = build(items_service(), items_service(drift="method"), operations=["GET /items"])
    Probes().execute(built.ctx)
    keys = _keys(built.ctx)
    assert any(
        op.startswith(("PUT /items", "DELETE /items", "PATCH /items")) for op, _, _ in keys
    ), keys
    agreeing = build(items_service(), items_service(), operations=["GET /items"])
    Probes().execute(agreeing.ctx)
    assert not agreeing.ctx.findings.all_groups()
    sent = agreeing.ctx.stats.ops["probes"].statuses["legacy"]
    assert sum(sent.values()) >= 5  # methods, HEAD, OPTIONS, slash, auth schemes


def test_a_connection_dropped_after_a_500_is_retried_on_a_fresh_connection(
    build: Any, tmp_path: Path
) -> None:
    state = {"drops": 1}

    def dropping(request: httpx.Request) -> httpx.Response:
        if state["drops"]:
            state["drops"] -= 1
            raise httpx.ReadError("[Errno 104] Connection reset by peer", request=request)
        return items_service()(request)

    built = build(items_service(), dropping, operations=["GET /items"])
    Stateless().execute(built.ctx)
    assert built.ctx.pair.transport is not None
    assert built.ctx.pair.transport.retries == {"candidate": 1}
    targets = build_results(_meta(tmp_path), built.ctx.config, built.ctx).targets
    assert (targets["legacy"].retries, targets["candidate"].retries) == (0, 1)
    assert not built.ctx.findings.all_groups()


def _expiring_service() -> Any:
    """Issues a new token per login; every token dies after the first authenticated request."""
    state = {"logins": 0, "valid": set(), "seen": 0}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/login":
            state["logins"] += 1
            token = f"tok-{state['logins']}"
            state["valid"].add(token)
            return json_response(200, {"token": token})
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in state["valid"]:
            return json_response(401, {"error": "unauthorized"})
        state["seen"] += 1
        if state["seen"] == 1:
            state["valid"].clear()
        return json_response(200, {"items": []})

    return handle


def test_a_session_that_ends_mid_run_is_renewed_and_said(build: Any) -> None:
    built = build(
        _expiring_service(),
        _expiring_service(),
        operations=["GET /items"],
        profile={"roles": ["admin"]},
        watched=False,
    )
    for target in built.ctx.pair.targets.values():
        target.tokens = {"admin": "tok-0"}
    built.ctx.sessions.renew("admin")  # as open_pair does
    op = built.ctx.contract.get("GET /items")
    cases = [c for c in built.ctx.cases.generate(op) if c.role == "admin"]
    built.ctx.replay_all(op.id, op, cases * 3)
    statuses = built.ctx.stats.ops["GET /items"].statuses["legacy"]
    assert set(statuses) == {"200"}, statuses  # no case was blinded by a dead session
    assert built.ctx.stats.renewals["admin"] >= 1


def test_session_ending_operations_are_recognised(build: Any) -> None:
    ctx = build(items_service(), items_service()).ctx
    assert ctx.ends_session("POST /api/auth/logout")
    assert ctx.ends_session("POST /api/users/me/password")
    assert ctx.ends_session("DELETE /api/users/{id}")
    assert not ctx.ends_session("GET /api/auth/logout")
    assert not ctx.ends_session("POST /api/cases")


def test_one_difference_on_several_operations_is_one_cause(build: Any, tmp_path: Path) -> None:
    def with_version(version: str) -> Any:
        inner = items_service()

        def handle(request: httpx.Request) -> httpx.Response:
            resp = inner(request)
            if request.url.path.startswith("/items") and resp.status_code < 300:
                import json

                body = json.loads(resp.content)
                body["api"] = version
                return json_response(resp.status_code, body)
            return resp

        return handle

    built = build(
        with_version("1.0"),
        with_version("2.0"),
        operations=["GET /items", "POST /items"],
        profile={"roles": ["admin"], "shrink": False},
    )
    Stateless().execute(built.ctx)
    results = build_results(_meta(tmp_path), built.ctx.config, built.ctx)
    api = [c for c in results.causes if c.location == "body:$.api"]
    assert len(api) == 1
    assert set(api[0].operations) == {"GET /items", "POST /items"}
    assert len(api[0].findings) == 2
