"""Opaque cursors compared by what they carry (harness.compare.cursors)."""

from __future__ import annotations

import base64
import json
from typing import Any

from harness.compare.comparison import compare_bodies
from harness.compare.cursors import decode_cursor, decoded_cursors
from harness.compare.normalization import RuleSet


def _token(value: Any, *, url: bool = True, pad: bool = False, **dumps: Any) -> str:
    raw = json.dumps(value, **dumps).encode()
    text = (base64.urlsafe_b64encode if url else base64.b64encode)(raw).decode()
    return text if pad else text.rstrip("=")


def test_tokens_decode_in_every_base64_spelling() -> None:
    value = {"p": 2, "c": "2026-01-01T10:00:00.000Z", "i": 12}
    for url in (True, False):
        for pad in (True, False):
            assert decode_cursor(_token(value, url=url, pad=pad)) == value
    assert decode_cursor("12") is None  # a plain id is compared as it is
    assert decode_cursor("not base64!") is None
    assert decode_cursor(base64.b64encode(b"42").decode()) is None  # JSON, not an object


def _diffs(legacy: Any, candidate: Any) -> list[str]:
    lb, cb = decoded_cursors(legacy, candidate)
    return [d.location for d in compare_bodies(lb, cb, RuleSet([], "GET /x"))]


def test_the_same_position_in_other_json_bytes_is_no_difference() -> None:
    value = {"p": 2, "i": 12}
    legacy = {"data": [], "nextCursor": _token(value, separators=(",", ":"))}
    candidate = {"data": [], "nextCursor": _token(value)}
    assert legacy["nextCursor"] != candidate["nextCursor"]
    assert _diffs(legacy, candidate) == []
    # in a nested paging object too; the bodies given are left as they were
    nested_l, nested_c = {"meta": dict(legacy)}, {"meta": dict(candidate)}
    assert _diffs(nested_l, nested_c) == []
    assert nested_c["meta"]["nextCursor"] == candidate["nextCursor"]


def test_another_position_is_placed_inside_the_token() -> None:
    legacy = {"nextCursor": _token({"p": 2, "i": 12})}
    candidate = {"nextCursor": _token({"p": 2, "i": 13})}
    assert _diffs(legacy, candidate) == ["body:$.nextCursor.i"]
    # a token that does not decode on one side is compared as it is
    assert _diffs(legacy, {"nextCursor": "13"}) == ["body:$.nextCursor"]
    # a key that is not a cursor's is never decoded
    assert _diffs({"name": legacy["nextCursor"]}, {"name": candidate["nextCursor"]}) == [
        "body:$.name"
    ]


def test_tokens_naming_the_same_row_of_their_page_leave_the_row_to_its_rules() -> None:
    """Each side stamped its run-created row with its own clock: the tokens differ in that
    stamp, but each names the last row of its page, so the rows are what is compared."""
    rows_l = [
        {"id": 1, "at": "2026-01-01T00:00:00.001Z"},
        {"id": 2, "at": "2026-01-01T00:00:01.440Z"},
    ]
    rows_c = [
        {"id": 1, "at": "2026-01-01T00:00:00.001Z"},
        {"id": 2, "at": "2026-01-01T00:00:01.437Z"},
    ]
    legacy = {"data": rows_l, "nextCursor": _token({"c": rows_l[1]["at"], "i": 2})}
    candidate = {"data": rows_c, "nextCursor": _token({"c": rows_c[1]["at"], "i": 2})}
    assert _diffs(legacy, candidate) == ["body:$.data[*].at"]  # no rule here: the row differs
    # a token naming another row than its page's last is compared by what it carries
    candidate["nextCursor"] = _token({"c": rows_c[0]["at"], "i": 1})
    assert set(_diffs(legacy, candidate)) >= {"body:$.nextCursor.c", "body:$.nextCursor.i"}


def test_another_encoding_is_a_difference_of_its_own() -> None:
    """Padding or the standard alphabet: a client that puts the token in a URL as it is
    (``+`` read as a space) or a side that refuses the other's spelling breaks on it."""
    value = {"p": 2, "i": 12, "s": "~~~"}  # "~~~" puts a '+' or '/' in the standard spelling
    plain = _token(value)
    padded = _token(value, pad=True)
    standard = _token(value, url=False)
    assert plain != padded
    assert "=" in padded
    assert len(plain) % 4
    assert _diffs({"nextCursor": plain}, {"nextCursor": padded}) == ["body:$.nextCursor.encoding"]
    lb, cb = decoded_cursors({"nextCursor": plain}, {"nextCursor": padded})
    assert (lb["nextCursor"]["encoding"], cb["nextCursor"]["encoding"]) == (
        "unpadded",
        "'=' padded",
    )
    assert set(_diffs({"nextCursor": plain}, {"nextCursor": standard})) == {
        "body:$.nextCursor.encoding"
    }
    # what they carry is still compared inside
    other = _token({**value, "i": 13}, pad=True)
    assert set(_diffs({"nextCursor": plain}, {"nextCursor": other})) == {
        "body:$.nextCursor.encoding",
        "body:$.nextCursor.carries.i",
    }
