"""Content coverage: whether a list or search answer had anything in it to compare.

Two empty lists agree, yet nothing in them was compared; an operation whose successful
answers were all empty on both sides is not really tested, however many cases it got.
Which operations are lists comes from the contract (a documented 2xx JSON body that is an
array of objects, or an object with one such array field), never from one response.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.cases.edges import resolve_ref

if TYPE_CHECKING:
    from harness.models import Response
    from harness.setup.contract import Contract, Operation

__all__ = ["ContentCoverage", "ContentTally", "list_field"]

# preferred names when a documented body has several arrays of objects
_SEARCH = re.compile(r"search|query|find|list|filter", re.IGNORECASE)
_ITEM_KEYS = ("data", "items", "results", "rows", "records", "entries", "hits", "content")


def _json_schema(responses: dict[str, Any]) -> list[Any]:
    out = []
    for code, resp in responses.items():
        if not str(code).upper().startswith("2") or not isinstance(resp, dict):
            continue
        for media, body in (resp.get("content") or {}).items():
            if "json" in str(media) and isinstance(body, dict) and "schema" in body:
                out.append(body["schema"])
    return out


def _of_objects(schema: Any, root: dict[str, Any]) -> bool:
    schema = resolve_ref(schema, root)
    if not isinstance(schema, dict) or schema.get("type") != "array":
        return False
    items = resolve_ref(schema.get("items"), root)
    return isinstance(items, dict) and (
        items.get("type") == "object" or "properties" in items or "allOf" in items
    )


def list_field(op: Operation, root: dict[str, Any]) -> tuple[str, ...] | None:
    """Where a list operation's answer keeps its items: ``()`` for a top-level array,
    ``(key,)`` for the array-of-objects field of a documented object; None otherwise."""
    if op.method not in ("GET", "QUERY") and not _SEARCH.search(f"{op.path} {op.operation_id}"):
        return None  # a write's answer that lists (an upload's errors) may rightly be empty
    definition = getattr(op.api, "definition", None)
    raw = getattr(definition, "raw", None)
    if not isinstance(raw, dict):
        return None
    for schema in _json_schema(raw.get("responses") or {}):
        if _of_objects(schema, root):
            return ()
        schema = resolve_ref(schema, root)
        if not isinstance(schema, dict):
            continue
        props = schema.get("properties") or {}
        arrays = [k for k, v in props.items() if _of_objects(v, root)]
        if len(arrays) == 1:
            return (arrays[0],)
        for key in _ITEM_KEYS:
            if key in arrays:
                return (key,)
    return None


def _items(body: Any, where: tuple[str, ...]) -> list[Any] | None:
    for key in where:
        body = body.get(key) if isinstance(body, dict) else None
    return body if isinstance(body, list) else None


@dataclass
class ContentTally:
    """One list operation's successful answers: how many, how many had an item on either
    side, and how many had items on both (their items were compared field by field)."""

    successes: int = 0
    with_items: int = 0
    compared: int = 0

    @property
    def hollow(self) -> bool:
        """Every successful answer was empty on both sides."""
        return self.successes > 0 and self.with_items == 0


@dataclass
class ContentCoverage:
    """Per list operation, the tally of its answers (fed by every exchange of the run)."""

    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tallies: dict[str, ContentTally] = field(default_factory=dict)

    def learn(self, contract: Contract) -> None:
        for op in contract.operations:
            where = list_field(op, contract.raw)
            if where is not None:
                self.fields[op.id] = where

    def add(self, op_id: str, legacy: Response, candidate: Response) -> None:
        where = self.fields.get(op_id)
        if where is None:
            return
        if not (200 <= legacy.status < 300 and 200 <= candidate.status < 300):
            return
        tally = self.tallies.setdefault(op_id, ContentTally())
        tally.successes += 1
        a, b = _items(legacy.body, where), _items(candidate.body, where)
        if a or b:
            tally.with_items += 1
        if a and b:
            tally.compared += 1

    def hollow(self) -> list[str]:
        return sorted(k for k, t in self.tallies.items() if t.hollow)
