"""Accepted input is listed only where the request as sent breaks the contract."""

from __future__ import annotations

from typing import Any

from harness.cases.generation import build_request
from harness.cases.violations import violations

ROOT: dict[str, Any] = {
    "components": {
        "schemas": {
            "New": {
                "type": "object",
                "required": ["title"],
                "properties": {
                    "title": {"type": "string", "maxLength": 3},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "due": {"type": "string", "nullable": True},
                },
            }
        }
    }
}
OP = {
    "parameters": [
        {"in": "query", "name": "limit", "required": True, "schema": {"type": "integer"}}
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/New"}}},
    },
}


def _req(body: Any, query: tuple[tuple[str, str], ...] = (("limit", "5"),)) -> Any:
    return build_request(
        operation="POST /n", method="POST", path="/n", query=query, headers=(), role=None,
        mode="negative", json_body=body,
    )  # fmt: skip


def test_a_valid_request_breaks_nothing_even_with_a_null_where_nullable() -> None:
    assert violations(OP, ROOT, _req({"title": "abc", "tags": ["x"], "due": None})) == []


def test_each_broken_place_is_named() -> None:
    assert violations(OP, ROOT, _req({"title": "abc", "tags": [1]})) == [
        'body {"title": "abc", "tags": [1]}'
    ]
    assert violations(OP, ROOT, _req({"title": "abc"}, (("limit", "x"),))) == ["query limit='x'"]
    assert violations(OP, ROOT, _req({"title": "abc"}, ())) == ["query limit missing"]
