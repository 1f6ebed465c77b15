"""``calibrate_writes`` against an in-process answerer (a unit test: no pair runs): a uuid
id becomes a mask for that operation only, a time a tolerance, a counter stays compared;
a write no role may make is a note, not a rule. ``minimal_value`` builds the bodies."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx

from harness.onboard.init import Auth, calibrate_writes, minimal_value

DOC: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/login": {"post": {"requestBody": {"content": {"application/json": {"schema": {}}}}}},
        "/items": {
            "post": {
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/x"}}}
                }
            }
        },
        "/items/{id}": {"post": {"requestBody": {"content": {"application/json": {}}}}},
    },
    "components": {
        "x": {
            "type": "object",
            "required": ["name", "size", "kind", "tags"],
            "properties": {
                "name": {"type": "string", "minLength": 3, "maxLength": 5},
                "size": {"type": "integer", "minimum": 10},
                "kind": {"enum": ["big", "small"]},
                "tags": {"type": "array", "minItems": 1, "items": {"type": "string"}},
                "note": {"type": "string"},
            },
        }
    },
}
AUTH = Auth("POST /login", "$.token", "X-Key", "", [], "user", "password")


def test_minimal_value_fills_required_fields_within_their_limits() -> None:
    body = minimal_value(DOC, {"$ref": "#/components/x"})
    assert body == {"name": "parit", "size": 10, "kind": "big", "tags": ["parity calibration"]}


def _answerer(status: int, sent: list[tuple[str, Any]]) -> httpx.MockTransport:
    counter = itertools.count(1)

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((str(request.url), json.loads(request.content)))
        n = next(counter)
        body = {
            "uid": str(uuid.uuid4()),
            "seq": n,
            "createdAt": f"2026-01-01T00:00:0{n}Z",
            "name": "parit",
        }
        return httpx.Response(status, json=body)

    return httpx.MockTransport(answer)


def test_what_varies_between_two_writes_becomes_a_rule_of_that_operation() -> None:
    sent: list[tuple[str, Any]] = []
    with httpx.Client(transport=_answerer(201, sent)) as client:
        rules, comments, notes = calibrate_writes(
            client, DOC, AUTH, {"admin": (("k", {}), ("k2", {}))}, ("http://l", "http://c")
        )
    assert notes == []
    # twice to each side, only the create (not the login, not a path with a parameter)
    assert [url for url, _ in sent] == ["http://l/items"] * 2 + ["http://c/items"] * 2
    by_place = {r.location: r for r in rules}
    assert set(by_place) == {"body:$..uid", "body:$..createdAt"}
    assert all(r.operation == "POST /items" for r in rules)
    assert by_place["body:$..uid"].action == "mask"
    assert by_place["body:$..createdAt"].action == "tolerance"
    assert "$.uid" in by_place["body:$..uid"].evidence
    assert any("$.seq 1 then 2, a counter" in line for line in comments)


def test_a_write_no_role_may_make_is_a_note() -> None:
    sent: list[tuple[str, Any]] = []
    with httpx.Client(transport=_answerer(403, sent)) as client:
        rules, comments, notes = calibrate_writes(
            client, DOC, AUTH, {"reader": (("k", {}), ("k2", {}))}, ("http://l", "http://c")
        )
    assert (rules, comments) == ([], [])
    assert notes == ["POST /items: writes not calibrated (reader: 403)"]
