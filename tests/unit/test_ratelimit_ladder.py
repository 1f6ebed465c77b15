"""The rate-limit ladder's verdict (issue 27): the step of the first 429 on each side, and
their Retry-After compared within a tolerance (the two clocks tick apart)."""

from __future__ import annotations

from harness.models import Response
from harness.run.phases.ratelimit import ladder_differences
from harness.setup.edges import RateLimitRule

RULE = RateLimitRule(operation="POST /hooks", tolerance_s=2)


def _r(status: int, retry: str | None = None) -> Response:
    headers = (("retry-after", retry),) if retry is not None else ()
    return Response(status, headers, None, "", 1.0)


def test_equal_thresholds_and_near_retry_after_agree() -> None:
    steps = [(_r(201), _r(201))] * 3 + [(_r(429, "30"), _r(429, "29"))]
    assert ladder_differences(RULE, steps) == []


def test_a_late_threshold_is_one_difference() -> None:
    steps = [(_r(201), _r(201)), (_r(429, "30"), _r(201)), (_r(429, "30"), _r(429, "30"))]
    [diff] = ladder_differences(RULE, steps)
    assert (diff.legacy, diff.candidate) == ("request 2", "request 3")


def test_a_retry_after_beyond_the_tolerance_or_missing_differs() -> None:
    far = [(_r(201), _r(201)), (_r(429, "30"), _r(429, "45"))]
    assert [d.location for d in ladder_differences(RULE, far)] == ["header:retry-after"]
    missing = [(_r(429, "30"), _r(429))]
    assert [d.kind for d in ladder_differences(RULE, missing)] == ["header"]


def test_no_limit_on_either_side_within_the_ladder_agrees() -> None:
    assert ladder_differences(RULE, [(_r(201), _r(201))] * 5) == []
