"""JSON exactly as JavaScript's ``JSON.stringify`` writes it, and responses carrying it."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def js_number(value: float) -> str:
    """``Number.prototype.toString`` for a finite double (shortest round-trip digits)."""
    if value == 0:
        return "0"
    if math.isnan(value) or math.isinf(value):
        return "null"
    sign = "-" if value < 0 else ""
    digits_tuple = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, digits_tuple.digits))
    exponent = int(digits_tuple.exponent)
    k = len(digits)
    n = exponent + k  # position of the decimal point relative to the digits
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


_MAX_SAFE = 9007199254740991


def _default(value: Any) -> Any:
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _prepare(value: Any) -> Any:
    if isinstance(value, float):
        return orjson.Fragment(js_number(value).encode())
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_SAFE:
        return orjson.Fragment(js_number(float(value)).encode())
    if isinstance(value, dict):
        return {k: _prepare(v) for k, v in value.items()}
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
