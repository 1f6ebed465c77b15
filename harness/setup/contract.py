"""Load the OpenAPI contract: a broken file is a HarnessError naming the file and the place."""

from __future__ import annotations

import fnmatch
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import schemathesis
import yaml

from harness.errors import HarnessError

__all__ = ["Contract", "Operation", "load_contract", "match_operation"]

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@dataclass(frozen=True)
class Operation:
    id: str  # "GET /api/cases/{id}"
    method: str
    path: str
    operation_id: str | None
    statuses: tuple[str, ...]  # documented response codes ("200", "4XX", "default")
    api: Any  # schemathesis APIOperation


@dataclass(frozen=True)
class Link:
    """An OpenAPI link: a value from one response fills a parameter of another operation."""

    source: str  # "POST /api/cases"
    status: str  # "201"
    name: str
    target: str  # "GET /api/cases/{id}"
    parameters: tuple[tuple[str, str], ...]  # (path param, "$response.body#/id")


@dataclass
class Contract:
    path: Path
    raw: dict[str, Any]
    schema: Any  # schemathesis BaseSchema
    operations: list[Operation]
    links: list[Link] = field(default_factory=list)
    overlays: tuple[Path, ...] = ()

    @property
    def base_path(self) -> str:
        """The path of the contract's first ``servers`` URL ("" when it has none): every
        operation's path is relative to it (``servers: [{url: http://host/api}]``)."""
        servers = self.raw.get("servers")
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            return ""
        url = str(servers[0].get("url") or "")
        path = urllib.parse.urlsplit(url).path if "://" in url else url
        return path.rstrip("/")

    def get(self, op_id: str) -> Operation:
        for op in self.operations:
            if op.id == op_id:
                return op
        raise HarnessError(f"{self.path}: no operation {op_id!r} in the contract", kind="input")

    def select(self, specs: list[str], exclude: list[str] | None = None) -> list[Operation]:
        """Operations picked by ``--operation`` specs (exact ids or globs), minus exclusions."""
        chosen: list[Operation] = []
        if specs:
            for spec in specs:
                norm = _norm_spec(spec)
                hits = [op for op in self.operations if match_operation(norm, op.id)]
                if not hits:
                    known = ", ".join(op.id for op in self.operations[:8])
                    raise HarnessError(
                        f"--operation {spec!r} matches no operation of {self.path} "
                        f"(e.g. {known}, ...)",
                        kind="input",
                    )
                chosen.extend(op for op in hits if op not in chosen)
        else:
            chosen = list(self.operations)
        if exclude:
            chosen = [op for op in chosen if not any(match_operation(e, op.id) for e in exclude)]
        return chosen


def _norm_spec(spec: str) -> str:
    parts = spec.strip().split(None, 1)
    if len(parts) == 2 and parts[0].lower() in METHODS:
        return f"{parts[0].upper()} {parts[1]}"
    return spec.strip()


def match_operation(pattern: str, op_id: str) -> bool:
    """``GET /api/*`` or ``/api/cases*`` (any method) or ``*``, matched against ``GET /path``."""
    if fnmatch.fnmatchcase(op_id, pattern):
        return True
    if pattern.startswith("/"):
        return fnmatch.fnmatchcase(op_id.split(" ", 1)[1], pattern)
    return False


def load_contract(path: Path, overlays: tuple[Path, ...] | list[Path] = ()) -> Contract:
    """The contract at ``path`` with the OpenAPI Overlay documents ``overlays`` applied."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"{path}: cannot read contract: {exc.strerror}", kind="input") from exc
    try:
        # libyaml's loader when PyYAML has it (same constructors as safe_load, ~8x faster:
        # every run and every worker parses the contract)
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise HarnessError(
            f"{path}: invalid YAML at {where}: {exc.problem or exc}", kind="input"
        ) from exc
    except yaml.YAMLError as exc:
        raise HarnessError(f"{path}: invalid YAML: {exc}", kind="input") from exc
    if not isinstance(raw, dict):
        raise HarnessError(f"{path}: the contract is not a mapping", kind="input")
    if overlays:
        from harness.setup.overlay import apply_overlay, load_overlay

        for overlay in overlays:
            apply_overlay(raw, load_overlay(overlay), overlay)
    if not str(raw.get("openapi", "")).startswith("3."):
        raise HarnessError(f"{path}: 'openapi' must be a 3.x version string", kind="input")
    paths = raw.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise HarnessError(f"{path}: 'paths' must be a non-empty mapping", kind="input")
    for route, item in paths.items():
        if not isinstance(item, dict):
            raise HarnessError(f"{path}: paths.{route} must be a mapping", kind="input")
    try:
        schema = schemathesis.openapi.from_dict(raw)
        schema.config.update(base_url="http://127.0.0.1:9")
    except Exception as exc:
        raise HarnessError(f"{path}: not a usable OpenAPI document: {exc}", kind="input") from exc
    operations: list[Operation] = []
    for result in schema.get_all_operations():
        try:
            api = result.ok()  # type: ignore[union-attr]
        except Exception as exc:
            raise HarnessError(f"{path}: broken operation: {exc}", kind="input") from exc
        definition = api.definition.raw
        responses = definition.get("responses") or {}
        operations.append(
            Operation(
                id=f"{api.method.upper()} {api.path}",
                method=api.method.upper(),
                path=api.path,
                operation_id=definition.get("operationId"),
                statuses=tuple(str(code) for code in responses),
                api=api,
            )
        )
    return Contract(
        path=path,
        overlays=tuple(overlays),
        raw=raw,
        schema=schema,
        operations=operations,
        links=_links(path, raw, operations),
    )


_LINK_SOURCES = (
    "$response.body#",
    "$response.header.",
    "$request.path.",
    "$request.query.",
    "$request.body#",
)
"""The runtime expressions a link parameter may use (OpenAPI 3 link objects)."""


def _links(path: Path, raw: dict[str, Any], operations: list[Operation]) -> list[Link]:
    by_op_id = {op.operation_id: op.id for op in operations if op.operation_id}
    out: list[Link] = []
    components = (raw.get("components") or {}).get("links") or {}
    for op in operations:
        responses = op.api.definition.raw.get("responses") or {}
        for status, response in responses.items():
            if not isinstance(response, dict):
                continue
            for name, link in (response.get("links") or {}).items():
                if isinstance(link, dict) and "$ref" in link:
                    link = components.get(str(link["$ref"]).rsplit("/", 1)[-1], {})
                if not isinstance(link, dict):
                    continue
                target = by_op_id.get(link.get("operationId", ""))
                if target is None:
                    continue  # operationRef or an unknown id: not followed
                params = tuple(
                    (str(k).removeprefix("path."), str(v))
                    for k, v in (link.get("parameters") or {}).items()
                    if isinstance(v, str) and v.startswith(_LINK_SOURCES)
                )
                out.append(Link(op.id, str(status), str(name), target, params))
    return out
