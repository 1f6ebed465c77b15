"""Content coverage: a list whose successful answers were all empty is flagged, one whose
items both sides had counts as compared; writes and single-row reads are not lists."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from harness.compare.content import ContentCoverage, list_field
from harness.models import Response
from harness.setup.contract import Operation

ROOT: dict[str, Any] = {
    "components": {
        "schemas": {
            "Case": {"type": "object", "properties": {"id": {"type": "integer"}}},
            "Page": {
                "type": "object",
                "properties": {
                    "data": {"type": "array", "items": {"$ref": "#/components/schemas/Case"}},
                    "total": {"type": "integer"},
                },
            },
        }
    }
}


def _op(method: str, path: str, schema: dict[str, Any]) -> Operation:
    raw = {"responses": {"200": {"content": {"application/json": {"schema": schema}}}}}
    api = SimpleNamespace(definition=SimpleNamespace(raw=raw))
    return Operation(f"{method} {path}", method, path, None, ("200",), api)


def _resp(status: int, body: Any) -> Response:
    return Response(status=status, headers=(), body=body, text="", elapsed_ms=1.0)


def test_list_field_from_the_contract() -> None:
    page = {"$ref": "#/components/schemas/Page"}
    assert list_field(_op("GET", "/cases", page), ROOT) == ("data",)
    top = {"type": "array", "items": {"$ref": "#/components/schemas/Case"}}
    assert list_field(_op("GET", "/cases/all", top), ROOT) == ()
    one = {"$ref": "#/components/schemas/Case"}
    assert list_field(_op("GET", "/cases/{id}", one), ROOT) is None
    # a write whose answer has a list (an upload's errors) may rightly be empty
    assert list_field(_op("POST", "/upload", page), ROOT) is None
    assert list_field(_op("POST", "/search", page), ROOT) == ("data",)


def test_hollow_and_compared() -> None:
    cov = ContentCoverage(fields={"GET /a": ("data",), "GET /b": ()})
    empty = {"data": [], "total": 0}
    for _ in range(3):
        cov.add("GET /a", _resp(200, empty), _resp(200, empty))
    cov.add("GET /a", _resp(400, {"data": [{"id": 1}]}), _resp(400, {}))  # not a success
    cov.add("GET /b", _resp(200, [{"id": 1}]), _resp(200, [{"id": 1}]))
    cov.add("GET /b", _resp(200, [{"id": 1}]), _resp(200, []))  # one side only
    cov.add("GET /c", _resp(200, []), _resp(200, []))  # not a list operation
    assert cov.hollow() == ["GET /a"]
    a, b = cov.tallies["GET /a"], cov.tallies["GET /b"]
    assert (a.successes, a.with_items, a.compared) == (3, 0, 0)
    assert (b.successes, b.with_items, b.compared) == (2, 2, 1)
    assert "GET /c" not in cov.tallies
