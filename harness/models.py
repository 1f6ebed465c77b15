"""Records passed between the pipeline stages; plain frozen dataclasses, JSON-ready."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "NOT_SET",
    "DataValue",
    "Difference",
    "ExchangeResult",
    "PreparedRequest",
    "Response",
    "TableWrites",
    "Writes",
    "walk",
]


class _NotSet:
    def __repr__(self) -> str:
        return "NOT_SET"

    def __reduce__(self) -> str:
        return "NOT_SET"  # unpickles to the module's singleton (generation runs in a worker)


NOT_SET: Any = _NotSet()
"""An absent body; distinct from a JSON ``null``."""


class DataValue(NamedTuple):
    """A value a case took from a database (``harness.cases.datavalues``): where it sits in
    the request and where it came from. ``private``: a user's data (URL mode), shown as
    ``<data:table.column>`` wherever parity writes the request out, unless the config
    allows it (``[external] show_data_values``)."""

    location: str  # "query" | "body" | "path"
    keys: tuple[str, ...]  # the parameter's name, or the JSON body field's path
    origin: str  # "db:<table>.<column>[:words|:time]"
    private: bool = False

    @property
    def placeholder(self) -> str:
        """``<data:notes.title>``: what a report shows instead of a private value."""
        name = self.origin.removeprefix("db:").split(":", 1)[0]
        return f"<data:{name}>"


@dataclass(frozen=True)
class PreparedRequest:
    """One generated request, encoded once so both targets receive identical bytes.

    ``headers`` never holds credentials; ``role`` names who the engine authenticates as.
    """

    operation: str  # "GET /api/cases/{id}"
    method: str
    path: str  # concrete, URL-encoded path: "/api/cases/12"
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    content: bytes | None
    body: Any  # the decoded body for reports and shrinking: JSON value, form dict or NOT_SET
    media_type: str | None
    role: str | None
    mode: str  # "positive" | "negative" | "combined" (inputs crossed on purpose) | "probe" ...
    shrinkable: bool = True  # JSON bodies and query strings can be reduced; multipart cannot
    path_params: tuple[tuple[str, str], ...] = ()  # raw values, for re-filling the template
    # values taken from a database, by place (kept by ``rebuild``; not part of the signature)
    data_values: tuple[DataValue, ...] = ()

    @property
    def size(self) -> int:
        return (
            len(self.path)
            + sum(len(k) + len(v) for k, v in self.query)
            + (len(self.content) if self.content else 0)
        )

    def signature(self) -> tuple[Any, ...]:
        """Identity for de-duplicating generated cases."""
        return (self.method, self.path, self.query, self.headers, self.content, self.role)


@dataclass(frozen=True)
class Response:
    status: int  # 0: no response (timeout)
    headers: tuple[tuple[str, str], ...]  # lower-cased names, in arrival order
    body: Any  # parsed JSON, text, or None when empty
    text: str
    elapsed_ms: float
    error: str | None = None
    # epoch seconds when the request was sent (its first attempt) and its answer was read:
    # a time the service stamped while handling it lies in between
    window: tuple[float, float] | None = None

    def header_values(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k == name]

    def to_dict(self, headers: list[str] | None = None) -> dict[str, Any]:
        wanted = {h.lower() for h in headers} if headers is not None else None
        hdrs: dict[str, str] = {}
        for k, v in self.headers:
            if wanted is None or k in wanted:
                hdrs[k] = v if k not in hdrs else f"{hdrs[k]}, {v}"
        out: dict[str, Any] = {
            "status": self.status,
            "headers": hdrs,
            "body": self.body,
            "elapsed_ms": round(self.elapsed_ms, 2),
        }
        if self.error:
            out["error"] = self.error
        return out


@dataclass
class TableWrites:
    inserted: list[dict[str, Any]] = field(default_factory=list)
    updated: list[dict[str, Any]] = field(default_factory=list)  # {"rowid", "before", "after"}
    deleted: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inserted or self.updated or self.deleted)

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted}


Writes = dict[str, TableWrites]
"""Rows one request wrote, table by table (only tables that changed)."""


@dataclass(frozen=True)
class Difference:
    """One disagreement between the two targets for one request."""

    location: str  # "status", "header:location", "body:$.data[*].createdAt", "db:events.kind"
    kind: str  # status | header | value | type | format | missing | extra | ordering | db_*
    path: str  # the concrete place: "$.data[3].createdAt", "events[rowid=7].kind"
    legacy: Any
    candidate: Any
    summary: str
    # the index of the conditional accept rule (``when``) whose condition this difference's
    # request met: the difference is accepted there, and grouped apart from the others
    accepted_when: int | None = None
    # a status difference: what tells its cause from another under the same status pair
    # (the two bodies' shapes, and their messages where the two sides' differ); a part of
    # its group's key (``harness.compare.findings``), never of its location
    cause: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "location": self.location,
            "legacy": self.legacy,
            "candidate": self.candidate,
            "summary": self.summary,
        }


@dataclass
class ExchangeResult:
    """One request replayed on both targets, with what each wrote and how they differ."""

    request: PreparedRequest
    legacy: Response
    candidate: Response
    legacy_writes: Writes | None
    candidate_writes: Writes | None
    differences: list[Difference]
    candidate_request: PreparedRequest | None = None  # stateful: ids from its own responses


def walk(node: Any, parts: list[str]) -> Any:
    """The value under ``parts`` (object keys, list indexes as digits), or None."""
    for part in parts:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
