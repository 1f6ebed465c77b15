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


_DIGITS = frozenset("0123456789")


def _plain(value: Any) -> bool:
    """A value orjson writes exactly as ``JSON.stringify`` does, with nothing inside to fix."""
    kind = type(value)
    return (
        kind is str
        or value is None
        or kind is bool
        or (kind is int and -_MAX_SAFE <= value <= _MAX_SAFE)
    )


def _prepare(value: Any) -> Any:
    """``value`` with every double written the JavaScript way and every object's keys in
    JavaScript's order; what needs neither is returned as it is (no copy)."""
    if _plain(value):
        return value
    kind = type(value)
    if kind is dict:
        out: Any = None
        for key, item in value.items():
            if key[:1] in _DIGITS:  # a possible array index: JavaScript lists those first
                return {k: _prepare(value[k]) for k in js_key_order(value)}
            if not _plain(item):
                fixed = _prepare(item)
                if fixed is not item:
                    out = out if out is not None else dict(value)
                    out[key] = fixed
        return value if out is None else out
    if kind is list:
        items: Any = None
        for index, item in enumerate(value):
            if not _plain(item):
                fixed = _prepare(item)
                if fixed is not item:
                    items = items if items is not None else list(value)
                    items[index] = fixed
        return value if items is None else items
    if isinstance(value, float):
        return orjson.Fragment(json_number(value).encode())
    if isinstance(value, int) and not isinstance(value, bool):  # outside the safe range
        return orjson.Fragment(json_number(float(value)).encode())
    if isinstance(value, dict):
        return {k: _prepare(value[k]) for k in js_key_order(value)}
    if isinstance(value, list | tuple):
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
