"""Bounded fields at their edges: each limit the contract states, exactly and one past it.

Hypothesis draws values inside a schema's bounds and far outside them, but a port's
off-by-one (``maxLength`` checked with ``<`` instead of ``<=``, a ``maximum`` page size of
99) shows only at the bound itself. From one valid request of an operation, every string
with ``minLength``/``maxLength``, number with ``minimum``/``maximum`` (exclusive too) and
array with ``minItems``/``maxItems`` in its JSON body or query gets one case per edge: at
the limit and one past it, the rest of the request unchanged.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from harness.cases.generation import ENCODING_ERRORS, rebuild
from harness.models import NOT_SET, PreparedRequest

__all__ = ["boundary_cases", "edges_of", "resolve_ref"]


def _resolve(schema: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """Local ``$ref``s followed (``#/components/schemas/X``), a few levels deep."""
    while isinstance(schema, dict) and "$ref" in schema and depth < 8:
        ref = str(schema["$ref"])
        if not ref.startswith("#/"):
            return {}
        node: Any = root
        for part in ref[2:].split("/"):
            node = (
                node.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(node, dict)
                else {}
            )
        schema = node
        depth += 1
    return schema


def resolve_ref(schema: Any, root: dict[str, Any]) -> Any:
    """``schema`` with its local ``$ref``s followed."""
    return _resolve(schema, root)


def edges_of(schema: Any, root: dict[str, Any]) -> list[tuple[Any, bool]]:
    """(value, valid) at each stated bound of one scalar or array schema."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return []
    kind = schema.get("type")
    out: list[tuple[Any, bool]] = []
    if kind == "string" and "enum" not in schema and "format" not in schema:
        if isinstance(schema.get("maxLength"), int):
            n = schema["maxLength"]
            out += [("a" * n, True), ("a" * (n + 1), False)]
        if isinstance(schema.get("minLength"), int) and schema["minLength"] > 0:
            n = schema["minLength"]
            out += [("a" * n, True), ("a" * (n - 1), False)]
    elif kind in ("integer", "number"):
        step = 1 if kind == "integer" else 0.5
        for key, sign, exclusive in (
            ("maximum", 1, "exclusiveMaximum"),
            ("minimum", -1, "exclusiveMinimum"),
        ):
            bound = schema.get(key)
            excl = schema.get(exclusive)
            if isinstance(excl, int | float) and not isinstance(excl, bool):
                bound, is_excl = excl, True  # OpenAPI 3.1: the bound itself is excluded
            else:
                is_excl = excl is True
            if isinstance(bound, int | float) and not isinstance(bound, bool):
                inside = bound - sign * step if is_excl else bound
                out += [(inside, True), (inside + sign * step, False)]
    elif kind == "array":
        items = _resolve(schema.get("items") or {}, root)
        sample = _sample(items)
        if sample is not None:
            if isinstance(schema.get("maxItems"), int):
                n = schema["maxItems"]
                out += [([sample] * n, True), ([sample] * (n + 1), False)]
            if isinstance(schema.get("minItems"), int) and schema["minItems"] > 0:
                n = schema["minItems"]
                out += [([sample] * n, True), ([sample] * (n - 1), False)]
    return out


def _sample(schema: Any) -> Any:
    if not isinstance(schema, dict):
        return None
    if schema.get("enum"):
        return schema["enum"][0]
    if "example" in schema:
        return schema["example"]
    return {"string": "a", "integer": 1, "number": 1, "boolean": True}.get(str(schema.get("type")))


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else json.dumps(value)


def boundary_cases(
    definition: dict[str, Any], root: dict[str, Any], base: PreparedRequest
) -> list[PreparedRequest]:
    """Cases at every stated bound of ``base``'s operation (``definition``: the raw OpenAPI
    operation), each from ``base`` with one field changed."""
    out: list[PreparedRequest] = []
    for param in definition.get("parameters") or []:
        param = _resolve(param, root)
        if not isinstance(param, dict) or param.get("in") != "query":
            continue
        name = str(param.get("name"))
        for value, valid in edges_of(param.get("schema"), root):
            if isinstance(value, list):
                continue
            query = (*((k, v) for k, v in base.query if k != name), (name, _text(value)))
            out.append(replace(base, query=query, mode="positive" if valid else "negative"))
    body = base.body
    content = ((definition.get("requestBody") or {}).get("content") or {}).get("application/json")
    schema = _resolve((content or {}).get("schema"), root)
    if isinstance(body, dict) and body is not NOT_SET and isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            for value, valid in edges_of(prop, root):
                try:
                    req = rebuild(base, json_body={**body, name: value})
                except ENCODING_ERRORS:
                    continue
                out.append(replace(req, mode="positive" if valid else "negative"))
    return out
