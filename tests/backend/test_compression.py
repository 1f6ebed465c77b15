"""The port's Node ``compression`` rules: which coding a request gets, which types."""

from __future__ import annotations

import pytest

from backend.compression import coding_for, compressible


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "gzip"),
        ("br, deflate", "deflate"),
        ("deflate;q=1, gzip;q=0.5", "deflate"),
        ("gzip;q=0, deflate", "deflate"),
        ("br", None),
        ("", None),
        ("identity", None),
        ("*", "gzip"),
    ],
)
def test_coding_for(accept: str, coding: str | None) -> None:
    assert coding_for(accept) == coding


def test_compressible() -> None:
    assert compressible("application/json")
    assert compressible("text/csv; charset=utf-8")
    assert compressible("application/problem+json")
    assert not compressible("")
    assert not compressible("image/png")
    assert not compressible("application/octet-stream")
