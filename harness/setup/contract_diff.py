"""Static contract drift: the candidate's published OpenAPI against the legacy's contract.

Why: a removed operation, a parameter that became required, a narrowed enum or a response
field dropped from the schema breaks clients before any request shows it, and some of it
(a response code the cases never reach) no request shows at all. The rules follow oasdiff's
breaking-change checks, in a small form: operations, parameters (presence, required, type,
enum), JSON request bodies (required fields, types, enums) and responses (codes, fields,
types, required fields, enums). What only differs between OpenAPI 3.0 and 3.1 (``nullable``
against ``anyOf`` with ``null`` or a type list) and the names of path parameters are
normalized first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ["ContractChange", "diff_contracts", "fragment"]

_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
_DEPTH = 6


@dataclass(frozen=True)
class ContractChange:
    operation: str  # the legacy's operation id ("GET /notes/{id}"), or the candidate's if new
    location: str  # "contract:operation", "contract:query.limit", "contract:response.200$.id"
    summary: str
    legacy: Any
    candidate: Any


def _resolve(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    while isinstance(node, dict) and "$ref" in node and depth < 16:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return {}
        target: Any = doc
        for part in ref[2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(target, dict)
                else {}
            )
        node, depth = target, depth + 1
    return node


def _operations(doc: dict[str, Any]) -> dict[tuple[str, str], tuple[str, dict[str, Any]]]:
    """(METHOD, path with unnamed parameters) -> (operation id, its definition with the
    path item's parameters merged in)."""
    out: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
    for path, item in (doc.get("paths") or {}).items():
        item = _resolve(doc, item)
        if not isinstance(item, dict):
            continue
        shared = item.get("parameters") or []
        for method in _METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            own = op.get("parameters") or []
            merged = {**op, "parameters": [*shared, *own]}
            key = (method.upper(), re.sub(r"\{[^}]*\}", "{}", path.rstrip("/") or "/"))
            out[key] = (f"{method.upper()} {path}", merged)
    return out


def _types(doc: dict[str, Any], schema: Any) -> frozenset[str]:
    """The JSON types a schema allows, 3.0's ``nullable`` and 3.1's ``null`` alike."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return frozenset()
    out: set[str] = set()
    kind = schema.get("type")
    if isinstance(kind, str):
        out.add(kind)
    elif isinstance(kind, list):
        out.update(str(k) for k in kind)
    for word in ("anyOf", "oneOf"):
        for branch in schema.get(word) or []:
            out |= _types(doc, branch)
    if schema.get("nullable") is True:
        out.add("null")
    if "integer" in out and "number" in out:
        out.discard("integer")
    if not out and ("properties" in schema or "allOf" in schema):
        out.add("object")
    return frozenset(out)


def _branch(doc: dict[str, Any], schema: Any) -> dict[str, Any]:
    """The object schema behind ``anyOf [X, null]`` / ``allOf [X]``, else the schema."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return {}
    for word in ("anyOf", "oneOf", "allOf"):
        branches = [_resolve(doc, b) for b in schema.get(word) or []]
        real = [b for b in branches if isinstance(b, dict) and b.get("type") != "null"]
        if len(real) == 1 and (word == "allOf" or len(branches) <= 2):
            return {**schema, **real[0]}
    return schema


def _enum(doc: dict[str, Any], schema: Any) -> list[Any] | None:
    schema = _branch(doc, schema)
    values = schema.get("enum")
    return [v for v in values if v is not None] if isinstance(values, list) else None


def _short(values: Any) -> str:
    if isinstance(values, (set, frozenset, list)):
        return "/".join(sorted(str(v) for v in values)) or "-"
    return str(values)


def _schemas(
    ld: dict[str, Any],
    cd: dict[str, Any],
    legacy: Any,
    candidate: Any,
    where: str,
    *,
    request: bool,
    depth: int = 0,
) -> list[tuple[str, str, Any, Any]]:
    """(place, what changed, legacy, candidate) between two schemas: for a request, what
    the candidate newly demands or no longer takes; for a response, what it no longer
    promises."""
    out: list[tuple[str, str, Any, Any]] = []
    lt, ct = _types(ld, legacy), _types(cd, candidate)
    if lt and ct and lt != ct:
        out.append((where, f"type {_short(lt)} -> {_short(ct)}", sorted(lt), sorted(ct)))
        return out
    le, ce = _enum(ld, legacy), _enum(cd, candidate)
    if le is not None and ce is not None:
        gone = [v for v in le if v not in ce]
        new = [v for v in ce if v not in le]
        if request and gone:
            out.append((where, f"enum no longer takes {_short(gone)}", le, ce))
        if not request and new:
            out.append((where, f"enum may answer {_short(new)}, not in the contract", le, ce))
    if depth >= _DEPTH:
        return out
    lo, co = _branch(ld, legacy), _branch(cd, candidate)
    lp, cp = lo.get("properties") or {}, co.get("properties") or {}
    lr, cr = set(lo.get("required") or []), set(co.get("required") or [])
    for name in sorted(set(lp) | set(cp)):
        place = f"{where}.{name}"
        if name in lp and name not in cp:
            if not request:
                out.append((place, "field no longer in the answer's schema", lp[name], None))
            elif co.get("additionalProperties") is False:
                out.append((place, "field no longer accepted", lp[name], None))
            continue
        if name not in lp:
            if request and name in cr:
                out.append((place, "new required field", None, cp[name]))
            continue
        if request and name in cr and name not in lr:
            out.append((place, "field became required", "optional", "required"))
        if not request and name in lr and name not in cr:
            out.append((place, "field no longer always answered", "required", "optional"))
        out += _schemas(ld, cd, lp[name], cp[name], place, request=request, depth=depth + 1)
    li, ci = lo.get("items"), co.get("items")
    if li is not None and ci is not None:
        out += _schemas(ld, cd, li, ci, f"{where}[*]", request=request, depth=depth + 1)
    return out


def _json_schema(doc: dict[str, Any], holder: Any) -> Any:
    holder = _resolve(doc, holder)
    content = (holder or {}).get("content") or {} if isinstance(holder, dict) else {}
    for media, body in content.items():
        if "json" in str(media) and isinstance(body, dict):
            return body.get("schema")
    return None


def _params(doc: dict[str, Any], op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out = {}
    for raw in op.get("parameters") or []:
        param = _resolve(doc, raw)
        if isinstance(param, dict) and param.get("in") in ("query", "path", "header", "cookie"):
            name = str(param.get("name"))
            if param["in"] == "path":
                continue  # named in the path template; compared as the route itself
            key = name.lower() if param["in"] == "header" else name
            out[f"{param['in']}.{key}"] = param
    return out


def fragment(doc: dict[str, Any], operation: str) -> Any:
    """The definition of ``operation`` ("GET /notes/{id}") in ``doc``, for a report."""
    method, _, path = operation.partition(" ")
    item = _resolve(doc, (doc.get("paths") or {}).get(path) or {})
    return item.get(method.lower()) if isinstance(item, dict) else None


def diff_contracts(legacy: dict[str, Any], candidate: dict[str, Any]) -> list[ContractChange]:
    """Every change from the legacy's contract to the candidate's, operation by operation."""
    lops, cops = _operations(legacy), _operations(candidate)
    out: list[ContractChange] = []
    for key in sorted(set(lops) | set(cops)):
        if key not in cops:
            op_id = lops[key][0]
            out.append(
                ContractChange(
                    op_id, "contract:operation", "the candidate's contract has no such "
                    "operation", op_id, None
                )
            )  # fmt: skip
            continue
        if key not in lops:
            op_id = cops[key][0]
            out.append(
                ContractChange(
                    op_id, "contract:operation", "only the candidate's contract has this "
                    "operation", None, op_id
                )
            )  # fmt: skip
            continue
        (op_id, lop), (_cid, cop) = lops[key], cops[key]
        out += _operation(legacy, candidate, op_id, lop, cop)
    return out


def _operation(
    ld: dict[str, Any], cd: dict[str, Any], op_id: str, lop: dict[str, Any], cop: dict[str, Any]
) -> list[ContractChange]:
    out: list[ContractChange] = []

    def add(where: str, summary: str, a: Any, b: Any) -> None:
        out.append(ContractChange(op_id, f"contract:{where}", f"{where}: {summary}", a, b))

    lp, cp = _params(ld, lop), _params(cd, cop)
    for name in sorted(set(lp) | set(cp)):
        if name not in cp:
            add(name, "parameter no longer in the contract", lp[name], None)
            continue
        if name not in lp:
            if cp[name].get("required"):
                add(name, "new required parameter", None, cp[name])
            continue
        if cp[name].get("required") and not lp[name].get("required"):
            add(name, "parameter became required", "optional", "required")
        for place, what, a, b in _schemas(
            ld, cd, lp[name].get("schema"), cp[name].get("schema"), name, request=True
        ):
            add(place, what, a, b)
    lb, cb = _json_schema(ld, lop.get("requestBody")), _json_schema(cd, cop.get("requestBody"))
    if lb is not None and cb is not None:
        for place, what, a, b in _schemas(ld, cd, lb, cb, "body$", request=True):
            add(place, what, a, b)
    lr = {str(k): v for k, v in (lop.get("responses") or {}).items()}
    cr = {str(k): v for k, v in (cop.get("responses") or {}).items()}
    for code in sorted(set(lr) | set(cr)):
        if code not in cr:
            add(f"response.{code}", "status no longer documented", code, None)
            continue
        if code not in lr:
            add(f"response.{code}", "status only the candidate documents", None, code)
            continue
        a, b = _json_schema(ld, lr[code]), _json_schema(cd, cr[code])
        if a is not None and b is not None:
            for place, what, x, y in _schemas(ld, cd, a, b, f"response.{code}$", request=False):
                add(place, what, x, y)
    return out
