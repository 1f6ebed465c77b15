"""Envelopes (issue 27): an ``unwrap`` rule takes one side's ``{"success", "data"}`` wrapper
off before comparison. Unit tests of the rule, then the fixture pair with its ``envelope``
switch: the wrapped candidate agrees under the rule, is drift without it, and a value that
differs inside the envelope is still found where the unwrapped body has it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from harness.models import Response
from harness.setup.config import NormalizeRule
from harness.setup.envelope import Envelope, unwrap_response
from tests.harness.conftest import RunPair

UNWRAP = (
    '\n[[normalize]]\nlocation = "body:$"\naction = "unwrap"\nside = "candidate"\n'
    'envelope = { flag = "$.success", data = "$.data", error = "$.error" }\n'
    'reason = "the port wraps every answer"\n'
)


def _resp(status: int, body: Any) -> Response:
    return Response(status, (("content-type", "application/json"),), body, "x", 1.0)


def test_a_success_envelope_becomes_its_data() -> None:
    out = unwrap_response(_resp(200, {"success": True, "data": {"id": 3}}), Envelope())
    assert (out.status, out.body, out.text) == (200, {"id": 3}, '{"id":3}')


def test_an_error_envelope_becomes_the_other_sides_error_and_status() -> None:
    env = Envelope(error_body={"message": "$.error.message"}, status="$.error.status")
    wrapped = {"success": False, "error": {"status": 404, "message": "no such case"}}
    out = unwrap_response(_resp(200, wrapped), env)
    assert (out.status, out.body) == (404, {"message": "no such case"})
    # without a mapping the error is the envelope without its flag
    out = unwrap_response(_resp(409, {"success": False, "message": "taken"}), Envelope())
    assert (out.status, out.body) == (409, {"message": "taken"})


@pytest.mark.parametrize("body", [{"id": 3}, {"success": "yes", "data": 1}, [1, 2], None])
def test_a_body_that_is_no_envelope_is_kept_so_the_difference_shows(body: Any) -> None:
    resp = _resp(200, body)
    assert unwrap_response(resp, Envelope()) is resp


def test_an_unwrap_rule_names_its_side_and_the_whole_body() -> None:
    with pytest.raises(ValidationError, match="side"):
        NormalizeRule(location="body:$", action="unwrap")
    with pytest.raises(ValidationError, match="whole body"):
        NormalizeRule(location="body:$.data", action="unwrap", side="candidate")
    with pytest.raises(ValidationError, match="plain JSON path"):
        Envelope(data="data")


@pytest.mark.e2e
def test_a_wrapped_candidate_agrees_only_under_the_unwrap_rule(run_pair: RunPair) -> None:
    code, results = run_pair("--seed", "5", drift="envelope", extra=UNWRAP)
    assert (code, results["verdict"]) == (0, "agree"), [
        (f["operation"], f["location"]) for f in results["findings"]
    ]
    # the rule for the login only: every wrapped read is drift
    login_only = UNWRAP.replace(
        'location = "body:$"', 'operation = "POST /login"\nlocation = "body:$"'
    )
    code, results = run_pair(
        "--seed", "5", "--operation", "GET /items/{id}", drift="envelope", extra=login_only
    )
    assert code == 1
    assert any(f["operation"] == "GET /items/{id}" for f in results["findings"])
    # no rule at all: the login's token is not where [auth] says, a clear error (exit 2)
    code, results = run_pair("--seed", "5", "--operation", "GET /items/{id}", drift="envelope")
    assert code == 2
    assert "success" in str(results.get("errors")), results.get("errors")


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("drift", "expected"),
    [
        ("envelope,value", ("GET /items/{id}", "body:$.name", "value")),
        ("envelope,status", ("GET /items/{id}", "status:404 vs 410", "status")),
    ],
)
def test_drift_inside_the_envelope_is_found_where_the_unwrapped_body_has_it(
    run_pair: RunPair, drift: str, expected: tuple[str, str, str]
) -> None:
    code, results = run_pair(
        "--seed", "5", "--operation", "GET /items/{id}", drift=drift, extra=UNWRAP
    )
    assert code == 1, results.get("errors")
    found = {(f["operation"], f["location"], f["kind"]) for f in results["findings"]}
    assert expected in found, sorted(found)
