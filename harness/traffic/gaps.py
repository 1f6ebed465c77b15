"""What the contract leaves out: operations, query parameters, request headers, statuses,
media types and response fields seen in traffic but absent from the contract, per operation,
with a suggested OpenAPI Overlay 1.0 that adds them (response schemas inferred with genson)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from genson import SchemaBuilder

from harness.setup.contract import Contract
from harness.traffic.capture import Capture
from harness.traffic.replay import Router

__all__ = ["STANDARD_HEADERS", "STANDARD_HEADER_PREFIXES", "Gaps", "find_gaps", "undeclared_header"]

# request headers every client, browser or proxy sends on its own (content negotiation,
# framing, credentials, caching, tracing, fetch metadata): never a gap, since no contract
# declares them as parameters (OpenAPI even ignores Accept, Content-Type and Authorization)
STANDARD_HEADERS = frozenset(
    {
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "authorization",
        "cache-control",
        "connection",
        "content-encoding",
        "content-length",
        "content-type",
        "cookie",
        "dnt",
        "expect",
        "forwarded",
        "host",
        "if-modified-since",
        "if-none-match",
        "keep-alive",
        "origin",
        "pragma",
        "priority",
        "proxy-authorization",
        "proxy-connection",
        "referer",
        "te",
        "traceparent",
        "tracestate",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "upgrade-insecure-requests",
        "user-agent",
        "via",
        "x-real-ip",
        "x-request-id",
        "x-requested-with",
    }
)
# and the families of them: proxies' x-forwarded-*, browsers' sec-fetch-* and client hints,
# HTTP/2 pseudo-headers as some HAR exporters write them
STANDARD_HEADER_PREFIXES = ("x-forwarded-", "sec-", ":")

_NUMERIC = re.compile(r"^\d+$|^[0-9a-f]{8}-[0-9a-f-]{27}$", re.IGNORECASE)


@dataclass
class OpGaps:
    operation: str
    known: bool = True  # False: the contract has no such operation
    params: dict[str, int] = field(default_factory=dict)  # undeclared query parameter -> seen
    headers: dict[str, int] = field(default_factory=dict)  # undeclared request header -> seen
    statuses: dict[int, int] = field(default_factory=dict)  # undocumented status -> seen
    request_media: set[str] = field(default_factory=set)
    response_media: set[str] = field(default_factory=set)
    fields: set[str] = field(default_factory=set)  # response fields absent from the schema
    samples: dict[int, SchemaBuilder] = field(default_factory=dict)  # status -> schema builder

    def empty(self) -> bool:
        return self.known and not (
            self.params
            or self.headers
            or self.statuses
            or self.request_media
            or self.response_media
            or self.fields
        )

    def lines(self) -> list[str]:
        out = [] if self.known else ["not in the contract"]
        if self.params:
            out.append("query parameters: " + ", ".join(sorted(self.params)))
        if self.headers:
            out.append("request headers: " + ", ".join(sorted(self.headers)))
        if self.statuses:
            out.append("statuses: " + ", ".join(str(s) for s in sorted(self.statuses)))
        if self.request_media:
            out.append("request media types: " + ", ".join(sorted(self.request_media)))
        if self.response_media:
            out.append("response media types: " + ", ".join(sorted(self.response_media)))
        if self.fields:
            out.append("response fields: " + ", ".join(sorted(self.fields)))
        return out


@dataclass
class Gaps:
    ops: dict[str, OpGaps]

    def found(self) -> list[OpGaps]:
        return [g for _, g in sorted(self.ops.items()) if not g.empty()]

    def text(self) -> str:
        found = self.found()
        if not found:
            return "the traffic used nothing the contract leaves out\n"
        out = []
        for g in found:
            out.append(g.operation)
            out.extend(f"  {line}" for line in g.lines())
        return "\n".join(out) + "\n"

    def overlay(self) -> dict[str, Any]:
        """An OpenAPI Overlay 1.0 document whose actions add what the traffic showed."""
        actions: list[dict[str, Any]] = []
        for g in self.found():
            method, _, path = g.operation.partition(" ")
            target = f"$.paths['{path}']"
            op: dict[str, Any] = {}
            parameters = [
                {"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                for n in sorted(g.params)
            ] + [
                {"name": n, "in": "header", "required": False, "schema": {"type": "string"}}
                for n in sorted(g.headers)
            ]
            if parameters:
                op["parameters"] = parameters
            responses: dict[str, Any] = {}
            for status in sorted(set(g.statuses) | ({200} if g.fields else set())):
                builder = g.samples.get(status)
                entry: dict[str, Any] = {"description": "seen in traffic"}
                if builder is not None:
                    schema = builder.to_schema()
                    schema.pop("$schema", None)
                    entry["content"] = {"application/json": {"schema": schema}}
                responses[str(status)] = entry
            if responses:
                op["responses"] = responses
            if not g.known:
                op.setdefault("responses", {"default": {"description": "seen in traffic"}})
                actions.append({"target": "$.paths", "update": {path: {method.lower(): op}}})
            elif op:
                actions.append({"target": target, "update": {method.lower(): op}})
        return {
            "overlay": "1.0.0",
            "info": {"title": "what the traffic used that the contract leaves out", "version": "1"},
            "actions": actions,
        }


def _declared_params(
    raw_op: dict[str, Any], raw_path: dict[str, Any], doc: dict[str, Any], where: str = "query"
) -> set[str]:
    """The names of the operation's ``where`` parameters (``header``: lower-cased, with the
    header API keys of the contract's security schemes); ``*``: any query name is declared."""
    names = set()
    for p in [*raw_path.get("parameters", []), *raw_op.get("parameters", [])]:
        p = _deref(p, doc)
        if isinstance(p, dict) and p.get("in") == where and where == "header":
            names.add(str(p.get("name")).lower())
        elif isinstance(p, dict) and p.get("in") == where:
            names.add(str(p.get("name")))
            if p.get("style") == "deepObject" or (
                p.get("explode") and p.get("schema", {}).get("type") == "object"
            ):
                names.add("*")
    if where == "header":
        schemes = doc.get("components", {}).get("securitySchemes", {})
        for scheme in schemes.values() if isinstance(schemes, dict) else ():
            scheme = _deref(scheme, doc)
            if isinstance(scheme, dict) and (scheme.get("type"), scheme.get("in")) == (
                "apiKey",
                "header",
            ):
                names.add(str(scheme.get("name")).lower())
    return names


def undeclared_header(name: str, declared: set[str] | frozenset[str] = frozenset()) -> bool:
    """Whether a request header says something of its own to the API: not one every client or
    proxy sends (``STANDARD_HEADERS``, ``STANDARD_HEADER_PREFIXES``) nor one ``declared``
    (lower-case names) as a header parameter."""
    low = name.lower()
    return not (
        low in STANDARD_HEADERS or low.startswith(STANDARD_HEADER_PREFIXES) or low in declared
    )


def _deref(node: Any, doc: dict[str, Any], depth: int = 0) -> Any:
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        ref = str(node["$ref"])
        if not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node


def _missing_fields(value: Any, schema: Any, doc: dict[str, Any], path: str, out: set[str]) -> None:
    schema = _deref(schema, doc)
    if not isinstance(schema, dict):
        return
    for key in ("allOf", "oneOf", "anyOf"):
        if key in schema:  # compose: a field any branch declares is declared
            merged: dict[str, Any] = {}
            for branch in schema[key]:
                branch = _deref(branch, doc)
                if isinstance(branch, dict):
                    merged.update(branch.get("properties", {}))
                    if branch.get("additionalProperties") not in (None, False):
                        return
            schema = {**schema, "properties": {**schema.get("properties", {}), **merged}}
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None or schema.get("additionalProperties") not in (None, False):
            return
        for k, v in value.items():
            if k not in props:
                out.add(f"{path}.{k}")
            else:
                _missing_fields(v, props[k], doc, f"{path}.{k}", out)
    elif isinstance(value, list) and "items" in schema:
        for item in value[:20]:
            _missing_fields(item, schema["items"], doc, f"{path}[*]", out)


def _template(path: str) -> str:
    return "/".join("{id}" if _NUMERIC.match(p) else p for p in path.split("/"))


def find_gaps(captures: list[Capture], contract: Contract, base_path: str) -> Gaps:
    """Every exchange checked against the contract's operation for it."""
    router = Router(contract, base_path)
    doc = contract.raw
    ops: dict[str, OpGaps] = {}
    base = base_path.rstrip("/")
    for cap in captures:
        for ex in cap.exchanges:
            req, answer = ex.request, ex.answer
            if req.websocket:
                continue  # a channel (AsyncAPI's, not OpenAPI's): not an HTTP operation
            hit = router.match(req.method, req.path)
            if hit is None:
                path = req.path[len(base) :] if base and req.path.startswith(base) else req.path
                key = f"{req.method.upper()} {_template(path)}"
                g = ops.setdefault(key, OpGaps(key, known=False))
                keys = _declared_params({}, {}, doc, "header")
                for name in {k.lower() for k, _ in req.headers}:
                    if undeclared_header(name, keys):
                        g.headers[name] = g.headers.get(name, 0) + 1
                if answer is not None:
                    g.statuses[answer.status] = g.statuses.get(answer.status, 0) + 1
                if answer is not None and answer.body is not None:
                    body = answer.body.decoded()
                    if body is not None:
                        g.samples.setdefault(answer.status, SchemaBuilder()).add_object(body)
                continue
            op = hit[0]
            g = ops.setdefault(op.id, OpGaps(op.id))
            raw_path = doc.get("paths", {}).get(op.path, {})
            raw_op = raw_path.get(op.method.lower(), {})
            declared = _declared_params(raw_op, raw_path, doc)
            if "*" not in declared:
                for name, _ in req.query:
                    if name not in declared:
                        g.params[name] = g.params.get(name, 0) + 1
            declared_headers = _declared_params(raw_op, raw_path, doc, "header")
            for name in {k.lower() for k, _ in req.headers}:
                if undeclared_header(name, declared_headers):
                    g.headers[name] = g.headers.get(name, 0) + 1
            media = next((v for k, v in req.headers if k.lower() == "content-type"), None)
            body_types = set(_deref(raw_op.get("requestBody", {}), doc).get("content", {}))
            if media and req.body is not None:
                mt = media.split(";")[0].strip().lower()
                if (
                    body_types
                    and mt not in body_types
                    and not any(t.endswith("/*") and mt.startswith(t[:-1]) for t in body_types)
                ):
                    g.request_media.add(mt)
            if answer is None:
                continue
            responses = raw_op.get("responses", {})
            code = str(answer.status)
            spec = responses.get(code) or responses.get(f"{code[0]}XX") or responses.get("default")
            if spec is None:
                g.statuses[answer.status] = g.statuses.get(answer.status, 0) + 1
            body = answer.body.decoded() if answer.body is not None else None
            if spec is None or body is None:
                if spec is None and body is not None:
                    g.samples.setdefault(answer.status, SchemaBuilder()).add_object(body)
                continue
            content = _deref(spec, doc).get("content", {})
            amt = next((v for k, v in answer.headers if k.lower() == "content-type"), "")
            amt = amt.split(";")[0].strip().lower()
            if amt and content and amt not in content:
                g.response_media.add(amt)
            schema = (content.get(amt) or content.get("application/json") or {}).get("schema")
            if schema is not None:
                missing: set[str] = set()
                _missing_fields(body, schema, doc, "$", missing)
                if missing:
                    g.fields |= missing
                    g.samples.setdefault(answer.status, SchemaBuilder()).add_object(body)
    return Gaps(ops)
