"""Normalization rules from ``parity.toml``: ignore, mask, tolerance, unordered, id mapping.

``unwrap`` takes one side's response envelope off as the answer arrives (``Pair.send``,
see ``harness.setup.envelope``).

Rules select by operation (route-template glob) and location (``body:<jsonpath>``,
``header:<name>``, ``db:<table>.<column>`` or ``db:<table>.<column>$<jsonpath>`` for JSON
text columns). Ignore/mask/unordered/id_map rewrite each side on its own; tolerance needs
both values and is checked by comparison.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from harness.setup.config import NormalizeRule
from harness.setup.contract import match_operation

__all__ = [
    "IGNORED",
    "CompiledRule",
    "RuleSet",
    "generalize",
    "json_style",
    "looks_formatted",
    "parse_time",
    "path_regex",
    "shape",
]

IGNORED: Any = object()
_KEY_SAFE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


@functools.lru_cache(maxsize=8192)
def shape(text: str) -> str:
    """The format of a value without its content: digits -> 0, letters -> a (T, Z kept)."""
    return re.sub(r"[0-9]", "0", re.sub(r"[A-SU-Ya-z]", "a", text))


def generalize(path: str) -> str:
    """``$.data[3].createdAt`` -> ``$.data[*].createdAt`` (how findings are grouped)."""
    return re.sub(r"\[\d+\]", "[*]", path)


def child_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    if _KEY_SAFE.match(key):
        return f"{parent}.{key}"
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def path_regex(pattern: str) -> re.Pattern[str]:
    """A tiny JSONPath subset: ``$``, ``.name``, ``.*``, ``[*]``, ``[n]``, ``..name``."""
    if not pattern.startswith("$"):
        raise ValueError(f"JSON path must start with $: {pattern!r}")
    out = "^\\$"
    i = 1
    seg = r"(?:\.[^.\[]+|\[[^\]]+\])"
    while i < len(pattern):
        if pattern.startswith("..", i):
            out += seg + "*?"
            i += 1  # the next '.' starts the name
            continue
        ch = pattern[i]
        if ch == ".":
            m = re.match(r"\.([^.\[]+)", pattern[i:])
            if not m:
                raise ValueError(f"bad JSON path {pattern!r}")
            name = m.group(1)
            if name == "*":
                out += r"\.[^.\[]+"
            else:
                out += r"\." + r"[^.\[]*".join(re.escape(piece) for piece in name.split("*"))
            i += len(m.group(0))
        elif ch == "[":
            end = pattern.index("]", i)
            inner = pattern[i + 1 : end]
            out += r"\[[^\]]+\]" if inner == "*" else re.escape(f"[{inner}]")
            i = end + 1
        else:
            raise ValueError(f"bad JSON path {pattern!r} at {i}")
    return re.compile(out + "$")


_TIME = re.compile(r"^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?)?(Z|[+-]\d\d:?\d\d)?$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def looks_formatted(text: str) -> bool:
    """Values whose rendering is a format: ISO times and dates, numbers as text."""
    return bool(_TIME.match(text) or _NUMBER.match(text))


@functools.lru_cache(maxsize=8192)  # a write of many rows stamps them all alike
def parse_time(text: str) -> dt.datetime | None:
    if not _TIME.match(text):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def json_style(raw: str, value: Any) -> str:
    """How a JSON text column was written: JSON.stringify-compact or something else."""
    compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return "compact" if raw == compact else "other"


@dataclass(frozen=True)
class CompiledRule:
    rule: NormalizeRule
    scope: str  # body | header | db
    regex: re.Pattern[str] | None  # body paths and JSON-column sub-paths
    name: str  # header name or "table.column" glob for db
    mask: re.Pattern[str] | None

    @property
    def action(self) -> str:
        return self.rule.action

    def apply_mask(self, value: Any) -> Any:
        if self.mask is None:
            return value
        if not isinstance(value, str):
            # without a pattern every value is masked; with one, only strings can match
            return self.rule.replacement if self.rule.pattern is None else value
        if not self.mask.fullmatch(value):
            return value  # the format differs from the expected one: keep it visible
        if self.rule.replacement == "{shape}":
            return shape(value)
        return self.rule.replacement


def _status_matches(pattern: str | None, status: int) -> bool:
    if pattern is None:
        return False
    if pattern[1:].lower() == "xx":
        return str(status)[:1] == pattern[0]
    return str(status) == pattern


def compile_rule(rule: NormalizeRule) -> CompiledRule:
    scope, _, rest = rule.location.partition(":")
    regex = None
    name = ""
    if scope == "body":
        regex = path_regex(rest)
    elif scope == "header":
        name = rest.lower()
    else:
        name, dollar, sub = rest.partition("$")
        if dollar:
            regex = path_regex("$" + sub)
    mask = re.compile(rule.pattern) if rule.pattern is not None else None
    if rule.action == "mask" and mask is None:
        mask = re.compile(r".*", re.S)
    return CompiledRule(rule=rule, scope=scope, regex=regex, name=name, mask=mask)


class RuleSet:
    """The rules of one operation, split by scope, ready to apply."""

    def __init__(self, rules: list[NormalizeRule], operation: str) -> None:
        compiled = [compile_rule(r) for r in rules if match_operation(r.operation, operation)]
        self.body = [r for r in compiled if r.scope == "body" and r.action != "unwrap"]
        self.headers = [r for r in compiled if r.scope == "header"]
        self.db = [r for r in compiled if r.scope == "db"]
        self.statuses = [r.rule for r in compiled if r.scope == "status"]
        self._cache: dict[str, list[CompiledRule]] = {}

    def same_status(self, legacy: int, candidate: int) -> bool:
        """Equal, or declared equivalent by a ``status`` rule (then bodies and writes are
        compared as usual)."""
        if legacy == candidate:
            return True
        return any(
            _status_matches(r.legacy, legacy) and _status_matches(r.candidate, candidate)
            for r in self.statuses
        )

    # -- bodies ---------------------------------------------------------------------------
    def body_rules_at(
        self, path: str, rules: list[CompiledRule] | None = None
    ) -> list[CompiledRule]:
        rules = self.body if rules is None else rules
        if not rules:
            return []
        key = f"{id(rules)}|{generalize(path)}"
        hit = self._cache.get(key)
        if hit is None:
            hit = [r for r in rules if r.regex is not None and r.regex.match(path)]
            self._cache[key] = hit
        return hit

    def normalize_body(self, value: Any, rules: list[CompiledRule] | None = None) -> Any:
        rules = self.body if rules is None else rules
        if not rules:
            return value
        ids: dict[str, dict[Any, str]] = {}
        return self._walk(value, "$", rules, ids)

    def _walk(
        self, node: Any, path: str, rules: list[CompiledRule], ids: dict[str, dict[Any, str]]
    ) -> Any:
        here = self.body_rules_at(path, rules)
        for rule in here:
            if rule.action == "ignore":
                return IGNORED
            if rule.action == "mask":
                node = rule.apply_mask(node)
            elif rule.action == "id_map" and isinstance(node, int | str):
                table = ids.setdefault(rule.rule.location, {})
                node = table.setdefault(node, f"<id:{len(table) + 1}>")
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, val in node.items():
                new = self._walk(val, child_path(path, key), rules, ids)
                if new is not IGNORED:
                    out[key] = new
            node = out
        elif isinstance(node, list):
            items = [self._walk(v, child_path(path, i), rules, ids) for i, v in enumerate(node)]
            node = [v for v in items if v is not IGNORED]
        for rule in here:
            if rule.action == "unordered" and isinstance(node, list):
                field_key = rule.rule.key
                node = sorted(node, key=lambda item: _sort_key(item, field_key))
        return node

    def tolerance(self, path: str, rules: list[CompiledRule] | None = None) -> list[CompiledRule]:
        return [r for r in self.body_rules_at(path, rules) if r.action == "tolerance"]

    def masked_at(self, path: str, rules: list[CompiledRule] | None = None) -> bool:
        return any(r.action == "mask" for r in self.body_rules_at(path, rules))

    # -- headers --------------------------------------------------------------------------
    def header_rules(self, name: str) -> list[CompiledRule]:
        return [r for r in self.headers if fnmatch.fnmatchcase(name, r.name)]

    # -- database rows --------------------------------------------------------------------
    def column_rules(self, table: str, column: str) -> list[CompiledRule]:
        key = f"db|{table}.{column}"
        hit = self._cache.get(key)
        if hit is None:
            hit = [r for r in self.db if fnmatch.fnmatchcase(f"{table}.{column}", r.name)]
            self._cache[key] = hit
        return hit

    def normalize_row(self, table: str, row: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ids: dict[str, dict[Any, str]] = {}
        for column, value in row.items():
            rules = self.column_rules(table, column)
            whole = [r for r in rules if r.regex is None]
            sub = [r for r in rules if r.regex is not None]
            if any(r.action == "ignore" for r in whole):
                continue
            for rule in whole:
                if rule.action == "mask":
                    value = rule.apply_mask(value)
                elif rule.action == "id_map":
                    table_ids = ids.setdefault(rule.rule.location, {})
                    value = table_ids.setdefault(value, f"<id:{len(table_ids) + 1}>")
            if isinstance(value, JsonText):
                value = JsonText(value.raw, self.normalize_body(value.value, sub), value.style)
            out[column] = value
        return out


@dataclass(frozen=True)
class JsonText:
    """A TEXT column holding JSON: compared by value, and by writing style (format)."""

    raw: str
    value: Any
    style: str

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, JsonText) and self.value == other.value and self.style == other.style
        )

    def __hash__(self) -> int:
        return hash(self.raw)

    def for_report(self) -> Any:
        return self.value


def _sort_key(item: Any, key: str | None) -> str:
    if key is not None and isinstance(item, dict):
        return json.dumps(item.get(key), sort_keys=True, default=str)
    return json.dumps(item, sort_keys=True, default=str)
