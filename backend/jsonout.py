"""JSON exactly as JavaScript's ``JSON.stringify`` writes it, and responses carrying it."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from backend.jsbehaviour import js_key_order, json_number

__all__ = ["JsonResponse", "dumps", "js_number", "json_number", "stringify"]

js_number = json_number
"""The old name: ``JSON.stringify(number)`` (``backend.jsbehaviour.json_number``)."""


_MAX_SAFE = 9007199254740991


def _default(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


_PLAIN = frozenset({str, type(None), bool})
_DIGITS = frozenset("0123456789")


def _prepare(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:  # the commonest values first: orjson writes them as JavaScript does
        return value
    if kind is int:
        if -_MAX_SAFE <= value <= _MAX_SAFE:
            return value
        return orjson.Fragment(json_number(float(value)).encode())
    if kind is dict:
        # only a key starting with a digit can be an array index JavaScript lists first
        keys = js_key_order(value) if any(k[:1] in _DIGITS for k in value) else value
        return {k: _prepare(value[k]) for k in keys}
    if kind is list:
        return [_prepare(v) for v in value]
    if isinstance(value, float):
        return orjson.Fragment(json_number(value).encode())
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_SAFE:
        return orjson.Fragment(json_number(float(value)).encode())
    if isinstance(value, dict):
        return {k: _prepare(value[k]) for k in js_key_order(value)}
    if isinstance(value, list):
        return [_prepare(v) for v in value]
    return value


def dumps(value: Any, *, floats: bool = False) -> bytes:
    """Compact JSON; ``floats=True`` rewrites doubles the JavaScript way (slower)."""
    return orjson.dumps(_prepare(value) if floats else value, default=_default)


def stringify(value: Any) -> str:
    """``JSON.stringify(value)`` for what the API stores in JSON columns."""
    return dumps(value, floats=True).decode()


class JsonResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        *,
        floats: bool = False,
    ) -> None:
        super().__init__(dumps(content, floats=floats), status_code, headers)
