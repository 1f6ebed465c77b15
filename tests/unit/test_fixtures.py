"""``[fixtures]``: named values reach a success path generated values never do; the rows
phase picks rows that show every state; the coverage table says what was reached and how."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from harness.cases.fixtures import _body_paths
from harness.reporting.coverage import coverage_counts, coverage_table
from harness.run.outcome import RunMeta, build_results
from harness.run.phases import Stateless
from harness.run.phases.rows import row_states
from harness.setup.config import FixtureRule, ParityConfig
from tests.unit.conftest import items_service, json_response

REAL = "Real Name"


def _meta() -> RunMeta:
    return RunMeta("r", "default", 3, "external", "c", "p", ["stateless"], "t", 1.0)


def _creates_only_real_names(*, drift: bool = False) -> Any:
    """POST /items answers 201 only for a name that is a real one (as an id or an email
    must name a real row); ``drift``: the candidate's 201 body differs."""
    items = items_service()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/items" and request.method == "POST":
            if not request.headers.get("authorization", "").startswith("Bearer tok-"):
                return json_response(401, {"error": "unauthorized"})
            body = json.loads(request.content or b"{}")
            if not isinstance(body, dict) or body.get("name") != REAL:
                return json_response(400, {"error": "unknown name"})
            return json_response(201, {"id": 2, "name": REAL.upper() if drift else REAL})
        return items(request)

    return handle


def _with_fixtures(config: ParityConfig, fixtures: dict[str, Any]) -> ParityConfig:
    return ParityConfig.model_validate(
        {**config.model_dump(exclude_defaults=False), "fixtures": fixtures}
    ).model_copy(update={"base_dir": config.base_dir, "source": config.source})


def test_a_fixture_reaches_the_success_path_and_its_drift(build: Any, config: Any) -> None:
    ops = ["POST /items"]
    plain = build(_creates_only_real_names(), _creates_only_real_names(drift=True), operations=ops)
    Stateless().execute(plain.ctx)
    assert not plain.ctx.stats.proven(plain.ctx.selected[0])
    assert not plain.ctx.findings.all_groups()  # both 400: the drift is out of reach

    cfg = _with_fixtures(config, {"name": [REAL]})
    agree = build(_creates_only_real_names(), _creates_only_real_names(), operations=ops, cfg=cfg)
    Stateless().execute(agree.ctx)
    assert agree.ctx.stats.proven(agree.ctx.selected[0])
    assert not agree.ctx.findings.all_groups()
    generated = agree.ctx.cases.generate(agree.ctx.selected[0])
    assert not any(isinstance(r.body, dict) and r.body.get("name") == REAL for r in generated)

    drift = build(
        _creates_only_real_names(),
        _creates_only_real_names(drift=True),
        operations=ops,
        cfg=cfg,
    )
    Stateless().execute(drift.ctx)
    keys = {g.key for g in drift.ctx.findings.all_groups()}
    assert ("POST /items", "body:$.name", "value") in keys


def test_fixture_values_go_to_every_role(build: Any, config: Any) -> None:
    cfg = _with_fixtures(config, {"name": [REAL, "Other"]})
    seen: list[tuple[str, str]] = []
    handler = _creates_only_real_names()

    def spy(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/items":
            body = json.loads(request.content or b"{}")
            if isinstance(body, dict) and body.get("name") in (REAL, "Other"):
                seen.append((request.headers.get("authorization", ""), body["name"]))
        return handler(request)

    built = build(spy, handler, operations=["POST /items"], cfg=cfg)
    Stateless().execute(built.ctx)
    assert set(seen) >= {
        ("Bearer tok-admin", REAL),
        ("Bearer tok-viewer", REAL),
        ("Bearer tok-admin", "Other"),
        ("Bearer tok-viewer", "Other"),
    }


def test_a_fixture_names_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of values, sql or source"):
        FixtureRule(values=[1], sql="SELECT 1")
    with pytest.raises(ValidationError, match="path goes with source"):
        FixtureRule(values=[1], path="$.data[*].id")
    config = ParityConfig.model_validate({"fixtures": {"assigneeId": [1, 2]}})
    assert config.fixture_rules()["assigneeId"].values == [1, 2]


def test_body_fields_are_found_at_any_depth_through_refs_and_combiners() -> None:
    root = {
        "components": {
            "schemas": {
                "Assign": {"type": "object", "properties": {"assigneeId": {"type": "integer"}}},
            }
        }
    }
    schema = {
        "type": "object",
        "properties": {
            "assigneeId": {"type": "integer"},
            "next": {"allOf": [{"$ref": "#/components/schemas/Assign"}]},
            "other": {"type": "string"},
        },
    }
    assert _body_paths(schema, root, "assigneeId") == [("assigneeId",), ("next", "assigneeId")]
    assert _body_paths(schema, root, "missing") == []


def test_rows_cover_every_state_value_not_only_the_first_states_seen() -> None:
    """The first six states seen are all ``active``; the resolved row comes after them."""
    items = [
        {"id": n, "status": "active", "severity": sev, "unit": unit, "caseId": None}
        for n, (sev, unit) in enumerate(
            [(s, u) for s in ("info", "warning", "critical") for u in ("a", "b", "c")], start=1
        )
    ]
    items.append({"id": 99, "status": "resolved", "severity": "info", "unit": "a", "caseId": 4})
    picked = dict(row_states(items, "id"))
    assert 99 in picked, picked
    assert len(picked) <= 10


def test_the_coverage_table_says_which_phase_reached_each_response(
    build: Any, config: Any, tmp_path: Path
) -> None:
    cfg = _with_fixtures(config, {"name": [REAL]})
    built = build(
        _creates_only_real_names(), _creates_only_real_names(), operations=["POST /items"], cfg=cfg
    )
    Stateless().execute(built.ctx)
    results = build_results(_meta(), cfg, built.ctx)
    table = coverage_table(results)
    assert "| POST /items | 201 ✓ (gen)" in table
    assert "403 ✗" in table  # documented, never answered
    counts = coverage_counts(results)
    assert counts["both"] < counts["total"]
    assert results.coverage.responses_seen_both == counts["both"]
