"""JavaScript's behaviour, reproduced where the port must answer byte for byte like Node.

One module, one distinct name per JavaScript function, each checked against a real ``node``
process by ``tests/backend/test_js_differential.py`` (hypothesis draws the inputs). zod's
issues live in ``backend.validation``, which builds them on these primitives.
"""

from __future__ import annotations

import base64
import math
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "UNDEFINED",
    "base64url_decode",
    "base64url_encode",
    "decode_uri_component",
    "encode_uri_component",
    "iso_string_normalize",
    "js_key_order",
    "json_number",
    "querystring_reserialize",
    "string_to_number",
    "to_iso_string",
    "to_lower_case",
    "to_number",
    "type_name",
]


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()
"""JavaScript's ``undefined`` (a key that is absent), distinct from ``None`` (``null``)."""


def json_number(value: float) -> str:
    """``JSON.stringify(number)``: ``Number.prototype.toString`` digits, ``null`` if not finite."""
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


_JS_SPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)", re.ASCII)
_RADIX = {"0x": (16, re.compile(r"[0-9a-fA-F]+")), "0o": (8, re.compile(r"[0-7]+"))}
_RADIX["0b"] = (2, re.compile(r"[01]+"))


def string_to_number(text: str) -> float:
    """``Number(text)`` for a string (what ``z.coerce.number()`` does to a query value)."""
    t = text.strip(_JS_SPACE)
    if t == "":
        return 0.0
    radix = _RADIX.get(t[:2].lower())
    if radix is not None:
        base, digits = radix
        if not digits.fullmatch(t[2:]):
            return math.nan
        try:
            return float(int(t[2:], base))
        except OverflowError:
            return math.inf
    if t in ("Infinity", "+Infinity"):
        return math.inf
    if t == "-Infinity":
        return -math.inf
    if _DECIMAL.fullmatch(t):
        return float(t)
    return math.nan


def to_number(value: Any) -> float:
    """``Number(value)`` for what JSON and a query carry (``z.coerce.number()``)."""
    if value is UNDEFINED:
        return math.nan
    if value is None or value is False:
        return 0.0
    if value is True:
        return 1.0
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return string_to_number(value)
    if isinstance(value, list):  # Number(String(array)): the elements joined by commas
        return string_to_number(_array_string(value))
    return math.nan


def _array_string(items: list[Any]) -> str:
    """``String(array)``: elements joined by commas, ``null`` as empty."""
    parts = []
    for item in items:
        if item is None or item is UNDEFINED:
            parts.append("")
        elif isinstance(item, bool):
            parts.append("true" if item else "false")
        elif isinstance(item, int | float):
            parts.append(json_number(float(item)) if math.isfinite(item) else type_name(item))
        elif isinstance(item, list):
            parts.append(_array_string(item))
        elif isinstance(item, dict):
            parts.append("[object Object]")
        else:
            parts.append(str(item))
    return ",".join(parts)


def type_name(value: Any) -> str:
    """zod's ``parsedType`` as its English locale prints it (``received ...``)."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        if isinstance(value, float) and math.isnan(value):
            return "NaN"
        if isinstance(value, float) and math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def to_iso_string(moment: datetime) -> str:
    """``Date.prototype.toISOString()``: UTC, milliseconds (truncated), four-digit year."""
    utc = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
        f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z"
    )


def iso_string_normalize(text: str) -> str:
    """``new Date(text).toISOString()`` for a string ``z.iso.datetime()`` accepted.

    Done on the text: the input is already UTC with seconds, so only the fraction changes;
    years JavaScript accepts and Python's datetime does not (0000) stay intact. V8 reads the
    fraction as its first nine significant digits after any leading zeros but counts at most
    nine digits of length, so ``.0001000000`` is 1 ms there (not 0): reproduced.
    """
    body = text[:-1]
    head, _, fraction = body.partition(".")
    return f"{head}.{_v8_milliseconds(fraction):03d}Z"


def _v8_milliseconds(fraction: str) -> int:
    """V8's ``DateParser::ReadMilliseconds`` over the digits after the decimal point."""
    if not fraction:
        return 0
    significant = fraction.lstrip("0")
    number = int(significant[:9] or "0")
    length = min(len(fraction), 9)
    if length < 3:
        return number * int(10 ** (3 - length))
    return number // int(10 ** (length - 3))


_B64URL: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/")


def base64url_encode(data: bytes) -> str:
    """``buffer.toString('base64url')``: no padding."""
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def base64url_decode(raw: str) -> bytes:
    """Node's lenient ``Buffer.from(raw, 'base64url')``: both alphabets; a character outside
    them is skipped; ``=`` stops; a dangling sixth bit group is dropped. A string with any
    character past U+00FF is read as UTF-16 code units cut to their low byte (so ``Ł`` is
    ``A`` and an emoji's low surrogate may be ``=``), as Node's decoder does."""
    chars: Iterable[str] = raw
    if any(ord(ch) > 0xFF for ch in raw):
        chars = (chr(ord(unit) & 0xFF) for unit in _utf16_units(raw))
    kept = []
    for ch in chars:
        if ch in _B64URL:
            kept.append({"+": "-", "/": "_"}.get(ch, ch))
        elif ch == "=":
            break
    text = "".join(kept)
    if len(text) % 4 == 1:
        text = text[:-1]
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


_URI_UNRESERVED: Final = "-_.!~*'()"


def encode_uri_component(text: str) -> str:
    """``encodeURIComponent(text)`` (a lone surrogate raises ``UnicodeEncodeError``, where
    JavaScript throws ``URIError``)."""
    return urllib.parse.quote(text, safe=_URI_UNRESERVED)


def querystring_reserialize(raw: str) -> str:
    """``querystring.stringify(querystring.parse(raw))``: the query as Next.js re-serializes
    it in a redirect (``+`` becomes ``%20``, ``=`` in a value ``%3D``, a bare key ``k=``, a
    repeated key's values gathered at its first place, array-index keys first)."""
    if not raw:
        return ""
    grouped: dict[str, list[str]] = {}
    for pair in raw.split("&")[:1000]:  # querystring.parse's default maxKeys
        if not pair:
            continue
        key, _, value = pair.partition("=")
        grouped.setdefault(_qs_unescape(key), []).append(_qs_unescape(value))
    return "&".join(
        f"{_qs_escape(k)}={_qs_escape(v)}" for k in js_key_order(grouped) for v in grouped[k]
    )


_HEX: Final = frozenset("0123456789abcdefABCDEF")


def decode_uri_component(text: str) -> str:
    """``decodeURIComponent(text)``; raises ``ValueError`` where JavaScript throws URIError."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] != "%":
            out.append(text[i])
            i += 1
            continue
        run = bytearray()
        while i < len(text) and text[i] == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) < 2 or not set(pair) <= _HEX:
                raise ValueError("URI malformed")
            run.append(int(pair, 16))
            i += 3
        out.append(run.decode("utf-8"))  # strict: UnicodeDecodeError is a ValueError
    return "".join(out)


def _qs_unescape(text: str) -> str:
    """How ``querystring.parse`` decodes a key or value: ``+`` is a space; only text with a
    valid ``%XX`` is decoded, by decodeURIComponent, else by Node's byte-wise fallback (each
    character cut to its low byte, ``%XX`` decoded, then UTF-8 with replacement)."""
    text = text.replace("+", " ")
    if not _ESCAPE.search(text):
        return text
    try:
        return decode_uri_component(text)
    except ValueError:
        pass
    units = _utf16_units(text)  # JavaScript strings are UTF-16: a character past U+FFFF is two
    out = bytearray()
    i = 0
    while i < len(units):
        if units[i] == "%" and i < len(units) - 2 and set(units[i + 1 : i + 3]) <= _HEX:
            out.append(int("".join(units[i + 1 : i + 3]), 16))
            i += 3
            continue
        out.append(ord(units[i]) & 0xFF)
        i += 1
    return out.decode("utf-8", errors="replace")


def _utf16_units(text: str) -> list[str]:
    """The string's UTF-16 code units, each as a one-character string."""
    if all(ord(ch) <= 0xFFFF for ch in text):
        return list(text)
    raw = text.encode("utf-16-le", "surrogatepass")
    return [chr(int.from_bytes(raw[i : i + 2], "little")) for i in range(0, len(raw), 2)]


_ESCAPE: Final = re.compile(r"%[0-9a-fA-F]{2}")


def _qs_escape(text: str) -> str:
    return urllib.parse.quote(text, safe=_URI_UNRESERVED)


_ARRAY_INDEX: Final = re.compile(r"0|[1-9][0-9]*", re.ASCII)


def js_key_order(obj: Mapping[str, Any]) -> list[str]:
    """JavaScript's own-key order: array-index keys ("0", "17"; canonical, below 2**32 - 1)
    ascending first, then the others as inserted (``JSON.stringify``, ``Object.keys``)."""
    index = [k for k in obj if _ARRAY_INDEX.fullmatch(k) and int(k) < 2**32 - 1]
    if not index:
        return list(obj)
    seen = set(index)
    return sorted(index, key=int) + [k for k in obj if k not in seen]


def trim(text: str) -> str:
    """``String.prototype.trim``: JavaScript's whitespace, not Python's (``str.strip`` also
    strips the information separators U+001C..U+001F and U+0085)."""
    return text.strip(_JS_SPACE)


def to_lower_case(text: str) -> str:
    """``String.prototype.toLowerCase``: Python's ``str.lower`` (both apply Unicode's full
    mappings, final sigma included) plus the capitals Node's newer Unicode (16) knows and
    Python 3.11's (14) does not: found by comparing every code point with node."""
    return text.lower().translate(_NEWER_LOWER)


_NEWER_LOWER: Final = {
    0x1C89: 0x1C8A,
    0xA7CB: 0x0264,
    0xA7CC: 0xA7CD,
    0xA7CE: 0xA7CF,
    0xA7D2: 0xA7D3,
    0xA7D4: 0xA7D5,
    0xA7DA: 0xA7DB,
    0xA7DC: 0x019B,
    **{cp: cp + 0x20 for cp in range(0x10D50, 0x10D66)},  # Garay
    **{cp: cp + 0x1B for cp in range(0x16EA0, 0x16EB9)},  # Beria Erfe
}
