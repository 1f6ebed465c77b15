"""Request parsing shared by the routers: the legacy's query, body and id rules."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import Request
from starlette.responses import Response

from backend.errors import ApiError, custom_issue, validation_error
from backend.events import record_event
from backend.jsbehaviour import base64url_decode as _node_base64url
from backend.jsbehaviour import to_lower_case, trim
from backend.validation import ID_PARAM_SCHEMA, Obj, ValidationFailed

__all__ = [
    "decode_json_cursor",
    "encode_json_cursor",
    "minimal",
    "parse_body",
    "parse_id",
    "parse_query",
    "prefers_minimal",
    "read_json",
    "record_event",
    "tally",
]


_QUOTED = re.compile(r'"(.*)"')


def prefers_minimal(request: Request) -> bool:
    """RFC 7240: whether the request carries the preference ``return=minimal``, read as the
    legacy's ``prefersMinimal`` reads it (``Headers.get`` joins repeated fields with ", ")."""
    header = ", ".join(request.headers.getlist("prefer"))
    for preference in header.split(","):
        token = preference.split(";")[0]
        name, eq, value = token.partition("=")
        if not eq:
            continue
        value = trim(value)
        quoted = _QUOTED.fullmatch(value)
        if quoted is not None:
            value = quoted.group(1)
        if to_lower_case(trim(name)) == "return" and to_lower_case(value) == "minimal":
            return True
    return False


def minimal() -> Response:
    """The answer to a write whose client asked for ``Prefer: return=minimal``: 204, no body."""
    return Response(status_code=204, headers={"Preference-Applied": "return=minimal"})


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


async def read_json(request: Request) -> Any:
    raw = await request.body()
    text = raw.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError("invalid_json", "Request body must be valid JSON") from None


def validate(schema: Obj, value: Any) -> dict[str, Any]:
    try:
        return schema.parse(value)
    except ValidationFailed as failed:
        raise validation_error(failed.issues) from None


async def parse_body(request: Request, schema: Obj) -> dict[str, Any]:
    return validate(schema, await read_json(request))


def parse_query(request: Request, schema: Obj) -> dict[str, Any]:
    raw: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        raw.setdefault(key, value)
    return validate(schema, raw)


def parse_id(raw: str) -> int:
    return int(validate(ID_PARAM_SCHEMA, {"id": raw})["id"])


def tally(rows: Iterable[Sequence[Any]], first: dict[str, int], second: dict[str, int]) -> int:
    """Add each ``(a, b, n)`` row's n to ``first[a]`` and ``second[b]`` (keys not listed there
    are left out: a stored value outside the enum); the total of every n."""
    total = 0
    for a, b, n in rows:
        total += n
        if a in first:
            first[a] += n
        if b in second:
            second[b] += n
    return total


def encode_json_cursor(value: dict[str, Any]) -> str:
    """``Buffer.from(JSON.stringify(value)).toString('base64url')``."""
    raw = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_json_cursor(raw: str, schema: Obj) -> dict[str, Any]:
    """An opaque cursor back to its fields, or the legacy's "Invalid cursor" issue."""
    try:
        decoded = json.loads(_node_base64url(raw).decode("utf-8", errors="replace"))
        return schema.parse(decoded)
    except (ValueError, binascii.Error, ValidationFailed, RecursionError):
        raise custom_issue("cursor", "Invalid cursor") from None
