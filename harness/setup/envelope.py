"""Response envelopes: one side wraps its answers (``{"success": true, "data": X}``, an error
as ``{"success": false, "error_code": ..., "message": ...}``), the other answers ``X`` or a
status with an error body. An ``unwrap`` rule takes the envelope off that side's responses
before anything is compared, so a port that only adds the envelope agrees, and one whose
``data`` (or error) differs still shows it under the unwrapped location.

```toml
[[normalize]]
location = "body:$"
action = "unwrap"
side = "candidate"
envelope = { flag = "$.success", data = "$.data", error_body = { error = "$.error_code" } }
reason = "the port answers in the tRPC-style envelope"
```
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.models import Response

__all__ = ["Envelope", "Side", "unwrap_response"]

Side = Literal["legacy", "candidate"]
_MISSING: Any = object()
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]")


def _check_path(value: str) -> str:
    if (
        not value.startswith("$")
        or "".join(m.group(0) for m in _STEP.finditer(value)) != (value[1:])
    ):
        raise ValueError(f"{value!r}: a plain JSON path ($.name.other or $.list[0])")
    return value


def get_path(node: Any, path: str) -> Any:
    """The value at a plain JSON path (``$.a.b``, ``$.a[0]``), or ``_MISSING``."""
    for m in _STEP.finditer(path):
        name, index = m.group(1), m.group(2)
        if name is not None and isinstance(node, dict) and name in node:
            node = node[name]
        elif index is not None and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return _MISSING
    return node


class Envelope(BaseModel):
    """Where an envelope says success, carries the payload, the error and its status."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    flag: str = Field("$.success", description="JSON path of the success flag (true/false)")
    data: str = Field("$.data", description="JSON path of the payload of a success")
    error: str | None = Field(
        None, description="JSON path of the error body as the other side writes it ($.error)"
    )
    error_body: dict[str, str] = Field(
        default_factory=dict,
        description="or the error body built field by field: field -> JSON path in the "
        "envelope (neither: the envelope without its flag)",
    )
    status: str | None = Field(
        None,
        description="JSON path of the HTTP status an error envelope stands for (for a side "
        "that answers every error 200); absent: the response's own status",
    )
    missing_data: Literal["null", "empty"] = Field(
        "null",
        description="a success without data: null, or empty (no body, as a 204 answers)",
    )

    @field_validator("flag", "data", "status", "error")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        return None if value is None else _check_path(value)

    @field_validator("error_body")
    @classmethod
    def _error_paths(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value.values():
            _check_path(path)
        return value


def unwrap_response(resp: Response, envelope: Envelope) -> Response:
    """``resp`` as if the service had answered without the envelope. A body that is not an
    envelope (no flag, or a flag that is not a boolean) is kept as it is, so a side that
    forgets the envelope on some answers shows up as a shape difference."""
    body = resp.body
    if not isinstance(body, dict):
        return resp
    flag = get_path(body, envelope.flag)
    if not isinstance(flag, bool):
        return resp
    status = resp.status
    if flag:
        data = get_path(body, envelope.data)
        if data is _MISSING or data is None:
            text = "" if envelope.missing_data == "empty" else "null"
            return dataclasses.replace(resp, body=None, text=text)
        new: Any = data
    else:
        if envelope.status is not None:
            found = get_path(body, envelope.status)
            if isinstance(found, int) and not isinstance(found, bool) and 100 <= found < 600:
                status = found
        if envelope.error is not None:
            new = get_path(body, envelope.error)
            if new is _MISSING:
                return resp  # not an error envelope after all: keep it visible
        elif envelope.error_body:
            new = {}
            for field, path in envelope.error_body.items():
                value = get_path(body, path)
                if value is not _MISSING:
                    new[field] = value
        else:
            new = dict(body)
            _drop(new, envelope.flag)
    text = json.dumps(new, separators=(",", ":"), ensure_ascii=False)
    return dataclasses.replace(resp, status=status, body=new, text=text)


def _drop(body: dict[str, Any], path: str) -> None:
    steps = [m.group(1) for m in _STEP.finditer(path)]
    if len(steps) == 1 and steps[0] is not None:
        body.pop(steps[0], None)
