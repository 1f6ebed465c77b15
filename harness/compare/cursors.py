"""Opaque cursors compared by what they carry.

A list that pages by cursor hands out a token (``nextCursor: "eyJwIjoyLCJpIjoxMn0"``) that
clients treat as opaque; a port that writes the same position with other JSON bytes (key
order, spacing) has not drifted, while one whose token carries another position, precision
or field has, and its raw tokens only say "these two strings differ". Where both sides'
tokens under a cursor-like key decode (base64 or base64url, padded or not) to a JSON object
or array, the body is compared with the decoded values in their place: equal content is no
difference; two tokens that each carry the values of the same row of their page (the page's
last row, typically) name the same position, and that row is compared as a row, under its
rules (a stamp each side wrote within the tolerance); otherwise a difference is placed
inside the token (``body:$.nextCursor.c``: the stored time the position carries). An
encoding that differs is a difference of its own whatever the content
(``body:$.nextCursor.encoding``: ``=`` padding, or the standard alphabet's ``+`` and ``/``,
which a client that puts the token in a URL unescaped turns into a space and a path). Tokens
that do not decode on both sides are compared as they are.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

__all__ = ["CURSOR_KEY", "decode_cursor", "decoded_cursors", "encoding_of"]

CURSOR_KEY = re.compile(
    r"^((next|prev|previous|before|after|start|end)_?)?"
    r"(cursor|page_?token|continuation(_?token)?)$|^(next|prev|previous)$",
    re.IGNORECASE,
)


def decode_cursor(token: str) -> Any:
    """The JSON object or array a base64/base64url token carries, or None."""
    raw = token.strip()
    if len(raw) < 4 or not re.fullmatch(r"[A-Za-z0-9+/_\-]+=*", raw):
        return None
    padded = raw.rstrip("=") + "=" * (-len(raw.rstrip("=")) % 4)
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            text = decode(padded.encode()).decode("utf-8")
            value = json.loads(text)
        except (binascii.Error, ValueError):
            continue
        if isinstance(value, dict | list):
            return value
    return None


def encoding_of(token: str) -> tuple[str | None, bool | None]:
    """(alphabet, padded) of a base64 token, each None where the token does not show it: a
    token without ``+/-_`` fits both alphabets, one whose unpadded length is a multiple of
    four needs no padding."""
    raw = token.strip()
    alphabet = (
        "standard" if re.search(r"[+/]", raw) else "url-safe" if re.search(r"[-_]", raw) else None
    )
    bare = raw.rstrip("=")
    padded = True if bare != raw else (False if len(bare) % 4 else None)
    return alphabet, padded


def _encodings(a: str, b: str) -> tuple[str, str] | None:
    """How the two tokens are written, where they are written in conflicting ways."""
    (alpha_a, pad_a), (alpha_b, pad_b) = encoding_of(a), encoding_of(b)
    alphabet = alpha_a is not None and alpha_b is not None and alpha_a != alpha_b
    padding = pad_a is not None and pad_b is not None and pad_a != pad_b
    if not (alphabet or padding):
        return None

    def say(alpha: str | None, pad: bool | None) -> str:
        parts = [f"{alpha} alphabet"] if alphabet and alpha else []
        if padding:
            parts.append("'=' padded" if pad else "unpadded")
        return ", ".join(parts)

    return say(alpha_a, pad_a), say(alpha_b, pad_b)


def _leaves(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {leaf for v in value.values() for leaf in _leaves(v)}
    if isinstance(value, list):
        return {leaf for v in value for leaf in _leaves(v)}
    return set() if value is None or isinstance(value, bool) else {str(value)}


def _items(body: Any) -> list[Any]:
    """The page's rows: the first list of objects at the top level or one level down."""
    if not isinstance(body, dict):
        return []
    places = [body, *(v for v in body.values() if isinstance(v, dict))]
    for place in places:
        for value in place.values():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                return value
    return []


def _row_of(decoded: Any, body: Any) -> int | None:
    """The index of the last row of the page whose values include every value the token
    carries (the position is that row's), or None."""
    wanted = _leaves(decoded)
    if not wanted:
        return None
    for index in range(len(rows := _items(body)) - 1, -1, -1):
        if wanted <= _leaves(rows[index]):
            return index
    return None


def _swap(
    a: dict[str, Any], b: dict[str, Any], root_a: Any, root_b: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    out_a, out_b = a, b
    for key, va in a.items():
        vb = b.get(key)
        if isinstance(va, dict) and isinstance(vb, dict):
            na, nb = _swap(va, vb, root_a, root_b)
            if na is not va or nb is not vb:
                out_a = dict(out_a) if out_a is a else out_a
                out_b = dict(out_b) if out_b is b else out_b
                out_a[key], out_b[key] = na, nb
            continue
        if not (CURSOR_KEY.match(key) and isinstance(va, str) and isinstance(vb, str)):
            continue
        if va == vb:
            continue
        da, db = decode_cursor(va), decode_cursor(vb)
        if da is None or db is None:
            continue
        out_a = dict(out_a) if out_a is a else out_a
        out_b = dict(out_b) if out_b is b else out_b
        row = _row_of(da, root_a)
        if row is not None and row == _row_of(db, root_b):
            # each token is the position of the same row of its page: the rows themselves are
            # compared (under their rules: a stamp each side wrote within the tolerance)
            ca: Any = {"row": row}
            cb: Any = {"row": row}
        else:
            ca, cb = da, db
        encodings = _encodings(va, vb)
        if encodings is not None:  # written otherwise: said apart from what they carry
            ca = {"encoding": encodings[0], "carries": ca}
            cb = {"encoding": encodings[1], "carries": cb}
        out_a[key], out_b[key] = ca, cb
    return out_a, out_b


def decoded_cursors(legacy: Any, candidate: Any) -> tuple[Any, Any]:
    """The two bodies with each differing pair of decodable cursor tokens (at the top level
    or in nested objects such as ``pagination`` or ``meta``) replaced by what they carry;
    the bodies given are not changed."""
    if isinstance(legacy, dict) and isinstance(candidate, dict):
        return _swap(legacy, candidate, legacy, candidate)
    return legacy, candidate
