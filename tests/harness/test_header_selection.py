"""``[compare] headers = ["*"]``: which headers an exchange compares, and what is noise."""

from __future__ import annotations

import pytest

from harness.compare.comparison import (
    compare_exchange,
    compared_headers,
    differing_headers,
    shown_headers,
)
from harness.compare.noise import NoiseLedger
from harness.compare.normalization import RuleSet
from harness.models import Response
from harness.setup.config import DEFAULT_SKIP_HEADERS, CompareConfig


def resp(*headers: tuple[str, str], status: int = 200) -> Response:
    return Response(status, headers, {"ok": True}, '{"ok":true}', 1.0)


TRANSPORT = (
    ("date", "Sun, 06 Dec 2026 03:25:35 GMT"),
    ("server", "uvicorn"),
    ("connection", "keep-alive"),
    ("keep-alive", "timeout=5"),
    ("transfer-encoding", "chunked"),
    ("content-length", "11"),
    ("x-powered-by", "Next.js"),
)


def header_diffs(
    legacy: Response, candidate: Response, config: CompareConfig, learned: tuple[str, ...] = ()
) -> dict[str, tuple[object, object]]:
    diffs = compare_exchange(
        legacy, candidate, None, None, RuleSet([], "GET /x"), config, learned=learned
    )
    return {d.path: (d.legacy, d.candidate) for d in diffs if d.kind == "header"}


def test_every_header_is_compared_by_default() -> None:
    config = CompareConfig()
    assert config.headers == ["*"]
    legacy = resp(
        ("content-type", "text/csv"),
        ("content-disposition", 'attachment; filename="cases.csv"'),
        ("cache-control", "private, max-age=60"),
        ("retry-after", "30"),
    )
    candidate = resp(
        ("content-type", "text/csv"),
        ("content-disposition", 'attachment; filename="export.csv"'),
        ("retry-after", "60"),
    )
    assert header_diffs(legacy, candidate, config) == {
        "content-disposition": (
            'attachment; filename="cases.csv"',
            'attachment; filename="export.csv"',
        ),
        "cache-control": ("private, max-age=60", None),  # missing on one side
        "retry-after": ("30", "60"),
    }


def test_the_skip_list_leaves_out_transport_and_volatile_headers() -> None:
    config = CompareConfig()
    legacy = resp(("content-type", "application/json"), *TRANSPORT)
    candidate = resp(
        ("content-type", "application/json"),
        ("date", "Sun, 06 Dec 2026 03:25:36 GMT"),
        ("server", "other"),
        ("content-length", "12"),
    )
    assert compared_headers(config, legacy, candidate) == ["content-type"]
    assert header_diffs(legacy, candidate, config) == {}
    for name in ("date", "server", "x-powered-by", "content-length", "transfer-encoding"):
        assert name in DEFAULT_SKIP_HEADERS
    # vary is compared: a cache acts on it
    assert "vary" not in DEFAULT_SKIP_HEADERS


def test_skip_headers_takes_names_and_globs_and_replaces_the_default() -> None:
    config = CompareConfig(skip_headers=["x-nextjs-*", "Vary"])
    legacy = resp(("x-nextjs-cache", "HIT"), ("vary", "rsc"), ("date", "a"))
    candidate = resp(("vary", "accept-encoding"), ("date", "b"))
    # date is compared once the list no longer names it
    assert compared_headers(config, legacy, candidate) == ["date"]


def test_names_beside_the_star_are_compared_even_when_skipped_or_learned() -> None:
    config = CompareConfig(headers=["*", "Content-Length"])
    legacy = resp(("content-length", "11"), ("x-request-id", "a"))
    candidate = resp(("content-length", "12"), ("x-request-id", "b"))
    assert compared_headers(config, legacy, candidate, ("x-request-id", "content-length")) == [
        "content-length"
    ]
    assert header_diffs(legacy, candidate, config, ("x-request-id",)) == {
        "content-length": ("11", "12")
    }


def test_an_explicit_list_compares_exactly_its_headers() -> None:
    config = CompareConfig(headers=["content-type", "location", "set-cookie"])
    legacy = resp(("content-type", "a/b"), ("cache-control", "no-store"), ("date", "x"))
    candidate = resp(("content-type", "a/b"), ("cache-control", "max-age=5"), ("date", "y"))
    assert compared_headers(config, legacy, candidate) == ["content-type", "location", "set-cookie"]
    assert header_diffs(legacy, candidate, config) == {}
    # an explicit list shows only its headers in reports; "*" shows every one
    assert shown_headers(config) == ["content-type", "location", "set-cookie", "content-type"]
    assert shown_headers(CompareConfig()) is None


def test_learned_headers_are_left_out() -> None:
    config = CompareConfig()
    legacy = resp(("x-request-id", "a1"), ("cache-control", "no-store"))
    candidate = resp(("x-request-id", "b2"), ("cache-control", "max-age=5"))
    assert header_diffs(legacy, candidate, config, ("x-request-id",)) == {
        "cache-control": ("no-store", "max-age=5")
    }


def test_differing_headers_is_what_two_legacy_answers_disagree_on() -> None:
    config = CompareConfig()
    first = resp(
        ("x-request-id", "a1"),
        ("etag", '"1"'),
        ("date", "a"),
        ("set-cookie", "s=1; Path=/; Max-Age=60"),
    )
    second = resp(
        ("x-request-id", "b2"),
        ("etag", '"1"'),
        ("date", "b"),
        ("set-cookie", "s=2; Path=/; Max-Age=60"),  # only the value: cookies alike
    )
    found = differing_headers(config, first, second)
    assert list(found) == ["x-request-id"]
    assert "a1" in found["x-request-id"]
    assert "b2" in found["x-request-id"]
    # names listed explicitly are never learned away
    assert differing_headers(CompareConfig(headers=["*", "x-request-id"]), first, second) == {}


def test_the_ledger_learns_each_header_once() -> None:
    ledger = NoiseLedger()
    assert ledger.learn_headers("GET /a", {"x-request-id": "x-request-id: a then b"}) == [
        "x-request-id"
    ]
    assert ledger.learn_headers("GET /b", {"x-request-id": "x-request-id: c then d"}) == []
    assert ledger.headers == {"x-request-id": "GET /a: x-request-id: a then b"}


@pytest.mark.parametrize("headers", [["*"], ["content-type"]])
def test_learn_headers_is_a_setting(headers: list[str]) -> None:
    assert CompareConfig(headers=headers, learn_headers=False).learn_headers is False
