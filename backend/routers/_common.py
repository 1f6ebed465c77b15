"""Request parsing shared by the routers: the legacy's query, body and id rules."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from backend.errors import ApiError, validation_error
from backend.events import record_event
from backend.validation import ID_PARAM_SCHEMA, Obj, ValidationFailed

__all__ = ["parse_body", "parse_id", "parse_query", "read_json", "record_event"]


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
