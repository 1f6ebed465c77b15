"""What a request as sent breaks in its operation's contract (body, query, path).

Why: a case drawn as negative may be negative only in a part parity replaces (its
credentials) or in nothing the schema states; only a request that really breaks the
contract, and that both sides accept, is "accepted input" worth listing. The schemas are
checked by jsonschema-rs (already under schemathesis), with the contract's components
beside each schema so its ``$ref``s resolve.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema_rs

from harness.cases.edges import resolve_ref
from harness.models import NOT_SET, PreparedRequest

__all__ = ["violations"]


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema's ``null`` type."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _valid(schema: Any, value: Any, root: dict[str, Any]) -> bool:
    if not isinstance(schema, dict):
        return True
    document = _nullable({**schema, "components": root.get("components") or {}})
    try:
        return bool(jsonschema_rs.validator_for(document).is_valid(value))
    except (ValueError, jsonschema_rs.ReferencingError):
        return True  # a schema it cannot read: claim nothing


def _scalar(schema: Any, text: str) -> Any:
    """A query or path value (always text on the wire) as the type its schema names."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    kinds = kind if isinstance(kind, list) else [kind]
    if any(k in ("integer", "number", "boolean") for k in kinds):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def violations(definition: dict[str, Any], root: dict[str, Any], req: PreparedRequest) -> list[str]:
    """The places where ``req`` breaks the raw OpenAPI operation ``definition``: a JSON body
    its schema rejects, a missing required or ill-typed query or path parameter."""
    out: list[str] = []
    query = dict(req.query)
    paths = dict(req.path_params)
    for raw in definition.get("parameters") or []:
        param = resolve_ref(raw, root)
        if not isinstance(param, dict) or param.get("in") not in ("query", "path"):
            continue
        name, schema = str(param.get("name")), resolve_ref(param.get("schema"), root)
        values = query if param["in"] == "query" else paths
        if name not in values:
            if param.get("required") and param["in"] == "query":
                out.append(f"query {name} missing")
            continue
        if not _valid(schema, _scalar(schema, values[name]), root):
            out.append(f"{param['in']} {name}={values[name][:40]!r}")
    declared = resolve_ref(definition.get("requestBody"), root)
    declared = declared if isinstance(declared, dict) else {}
    content = (declared.get("content") or {}).get("application/json")
    if isinstance(content, dict):
        if req.content is None or req.body is NOT_SET:
            if declared.get("required"):
                out.append("body missing")
        elif (
            req.media_type
            and "json" in req.media_type
            and not _valid(resolve_ref(content.get("schema"), root), req.body, root)
        ):
            out.append(f"body {json.dumps(req.body)[:60]}")
    return out
