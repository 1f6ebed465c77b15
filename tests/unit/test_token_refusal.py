"""A role's 401 counts as "no token at all" only where it matches the anonymous answer,
what varies between two anonymous answers (a request id) aside."""

from __future__ import annotations

from harness.pair.targets import _alike

ANON = {"error": "an API key is required", "requestId": "a1"}
AGAIN = {"error": "an API key is required", "requestId": "b2"}


def test_the_anonymous_refusal_with_its_own_request_id_is_alike() -> None:
    assert _alike({"error": "an API key is required", "requestId": "c3"}, ANON, AGAIN)


def test_a_refusal_for_a_known_caller_is_not() -> None:
    assert not _alike({"error": "admins only", "requestId": "c3"}, ANON, AGAIN)
    assert not _alike({"error": "an API key is required"}, ANON, AGAIN)  # another shape
    assert not _alike("admins only", "key required", "key required")


def test_nested_and_listed_places_vary_by_themselves() -> None:
    anon = {"errors": [{"code": "auth", "at": 1}], "meta": {"id": "x"}}
    again = {"errors": [{"code": "auth", "at": 2}], "meta": {"id": "y"}}
    assert _alike({"errors": [{"code": "auth", "at": 9}], "meta": {"id": "z"}}, anon, again)
    assert not _alike({"errors": [{"code": "role", "at": 9}], "meta": {"id": "z"}}, anon, again)
