"""Static contract drift: what changed from the legacy's contract to the candidate's, with
what only differs between OpenAPI 3.0 and 3.1 left out."""

from __future__ import annotations

import copy
from typing import Any

from harness.setup.contract_diff import diff_contracts

LEGACY: dict[str, Any] = {
    "openapi": "3.0.3",
    "components": {
        "schemas": {
            "Item": {
                "type": "object",
                "required": ["id", "state"],
                "properties": {
                    "id": {"type": "integer"},
                    "state": {"type": "string", "enum": ["open", "closed"]},
                    "note": {"type": "string", "nullable": True},
                },
            }
        }
    },
    "paths": {
        "/items/{id}": {
            "get": {
                "parameters": [
                    {"in": "path", "name": "id", "required": True, "schema": {"type": "integer"}},
                    {"in": "query", "name": "view", "schema": {"type": "string",
                                                               "enum": ["short", "full"]}},
                ],
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Item"}}}},
                    "404": {"description": "none"},
                },
            }
        },
        "/items": {"post": {"responses": {"201": {"description": "made"}}}},
    },
}  # fmt: skip


def _as_31(doc: dict[str, Any]) -> dict[str, Any]:
    """The same contract as FastAPI-style 3.1: nullable as anyOf null, another path name."""
    out = copy.deepcopy(doc)
    out["openapi"] = "3.1.0"
    item = out["components"]["schemas"]["Item"]["properties"]
    item["note"] = {"anyOf": [{"type": "string"}, {"type": "null"}]}
    out["paths"]["/items/{item_id}"] = out["paths"].pop("/items/{id}")
    out["paths"]["/items/{item_id}"]["get"]["parameters"][0]["name"] = "item_id"
    return out


def test_a_contract_that_only_changes_its_openapi_version_has_no_drift() -> None:
    assert diff_contracts(LEGACY, _as_31(LEGACY)) == []


def test_each_breaking_change_is_named() -> None:
    cand = _as_31(LEGACY)
    get = cand["paths"]["/items/{item_id}"]["get"]
    get["parameters"][1]["schema"]["enum"] = ["short"]  # narrowed
    get["parameters"].append({"in": "query", "name": "lang", "required": True, "schema": {}})
    get["responses"].pop("404")
    item = cand["components"]["schemas"]["Item"]
    item["properties"]["id"] = {"type": "string"}  # type changed
    item["required"] = ["id"]  # state no longer always answered
    del cand["paths"]["/items"]  # operation removed
    found = {(c.operation, c.location): c.summary for c in diff_contracts(LEGACY, cand)}
    assert set(found) == {
        ("GET /items/{id}", "contract:query.view"),
        ("GET /items/{id}", "contract:query.lang"),
        ("GET /items/{id}", "contract:response.404"),
        ("GET /items/{id}", "contract:response.200$.id"),
        ("GET /items/{id}", "contract:response.200$.state"),
        ("POST /items", "contract:operation"),
    }
    assert "no longer takes short" not in found[("GET /items/{id}", "contract:query.view")]
    assert "no longer takes full" in found[("GET /items/{id}", "contract:query.view")]
    assert "integer -> string" in found[("GET /items/{id}", "contract:response.200$.id")]
