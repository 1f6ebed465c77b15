"""One cause, one finding (issue 28): the same difference seen by several phases, or by a
probe route as well as a real case, is one finding; a status pair whose answers have
other body shapes is one finding per shape (``test_status_causes.py``)."""

from __future__ import annotations

from typing import Any

from harness.compare.comparison import status_cause
from harness.compare.findings import Findings
from harness.models import Difference, ExchangeResult, PreparedRequest, Response


def _status(
    op: str, path: str, legacy: Any, candidate: Any, mode: str = "positive"
) -> ExchangeResult:
    req = PreparedRequest(op, "GET", path, (), (), None, None, None, None, mode)
    a, b = Response(404, (), legacy, "", 1.0), Response(400, (), candidate, "", 1.0)
    diff = Difference(
        "status:404 vs 400", "status", "status", 404, 400, "status 404 vs 400",
        cause=status_cause(a, b),
    )  # fmt: skip
    return ExchangeResult(req, a, b, None, None, [diff])


NOT_FOUND, BAD = {"error": "no"}, {"message": "bad", "code": "E"}


def test_a_probe_route_showing_a_real_cases_difference_joins_its_finding() -> None:
    findings = Findings(accept=[])
    findings.record(_status("GET /n/{id}", "/n/9", NOT_FOUND, BAD))
    findings.record(_status("GET /n/{id}/", "/n/9/", NOT_FOUND, BAD, "probe"), "probes")
    findings.record(_status("GET /n/", "/n/", NOT_FOUND, BAD, "probe"), "probes")
    merged = findings.together()
    assert len(merged) == 1
    assert merged[0][0].operation == "GET /n/{id}"  # the real case leads


def test_a_probe_with_other_bodies_stays_its_own_finding() -> None:
    findings = Findings(accept=[])
    findings.record(_status("GET /n/{id}", "/n/9", NOT_FOUND, BAD))
    findings.record(_status("GET /n/", "/n/", NOT_FOUND, {"detail": "x"}, "probe"), "probes")
    assert len(findings.together()) == 2


def test_the_same_difference_in_two_phases_is_one_finding() -> None:
    findings = Findings(accept=[])
    first = _status("GET /n/{id}", "/n/9", NOT_FOUND, BAD)
    findings.record(first)
    key = findings.key("GET /n/{id}", first.differences[0])
    findings.add_sequence([key], [first, first])
    findings.add_interop("GET /n/{id}", [first])
    merged = findings.together()
    assert len(merged) == 1
    assert [g.phase for g in merged[0]] == ["stateless", "stateful", "interop"]


def test_a_status_pair_with_two_body_shapes_is_two_findings() -> None:
    findings = Findings(accept=[])
    findings.record(_status("GET /n/{id}", "/n/9", NOT_FOUND, BAD))
    findings.record(_status("GET /n/{id}", "/n/8", NOT_FOUND, BAD))
    findings.record(_status("GET /n/{id}", "/n/x", NOT_FOUND, {"detail": "x"}))
    assert {g.cause.split(" · ")[0]: g.count for g in findings.groups.values()} == {
        "{error} -> {code,message}": 2,
        "{error} -> {detail}": 1,
    }
    assert len(findings.together()) == 2


def test_shards_fold_what_one_run_folds() -> None:
    """A stateful finding beside the stateless one of another shard, and a probe route's
    status pair with the same body shapes, fold into one finding when merged."""
    from harness.reporting.results import Finding
    from harness.scale.merge import fold_causes

    def finding(phase: str, op: str, legacy: Any, candidate: Any) -> Finding:
        step = {
            "request": {"method": "GET", "path": "/", "query": {}, "headers": {}, "role": None,
                        "mode": "probe" if phase == "probes" else "positive"},
            "legacy": {"status": 404, "headers": {}, "body": legacy, "elapsed_ms": 1.0},
            "candidate": {"status": 400, "headers": {}, "body": candidate, "elapsed_ms": 1.0},
            "curl": {},
        }  # fmt: skip
        return Finding.model_validate(
            {
                "id": f"f-{phase}{op}", "phase": phase, "operation": op,
                "location": "status:404 vs 400", "kind": "status", "summary": "s", "count": 2,
                "accepted": False, "accepted_reason": None, "accepted_expires": None,
                "example": {"steps": [step], "diff": [], "other_diffs": [], "db_writes": {}},
                "locations": [{"location": "status:404 vs 400", "kind": "status", "count": 2,
                               "summary": "s"}],
            }
        )  # fmt: skip

    folded = fold_causes(
        [
            finding("stateful", "GET /n/{id}", NOT_FOUND, BAD),
            finding("probes", "GET /n/", NOT_FOUND, BAD),
            finding("stateless", "GET /n/{id}", NOT_FOUND, BAD),
            finding("probes", "GET /m/", NOT_FOUND, {"detail": "x"}),
        ]
    )
    assert [(f.phase, f.operation) for f in folded] == [
        ("stateless", "GET /n/{id}"),
        ("probes", "GET /m/"),
    ]
    assert folded[0].phases == ["probes", "stateful", "stateless"]
    assert {loc.operation for loc in folded[0].locations} == {None, "GET /n/"}


def test_a_place_beside_another_finding_s_head_folds_into_that_finding() -> None:
    """A read after a write at a place a stateful request showed beside its head (the
    stateful group joined the stateless finding): one run joins them, so the merge does."""
    from harness.reporting.results import Finding
    from harness.scale.merge import fold_causes

    def finding(phase: str, head: str, *more: tuple[str, str | None]) -> Finding:
        step = {
            "request": {"method": "GET", "path": "/i/1", "query": {}, "headers": {},
                        "role": None, "mode": "positive"},
            "legacy": {"status": 200, "headers": {}, "body": {}, "elapsed_ms": 1.0},
            "candidate": {"status": 200, "headers": {}, "body": {}, "elapsed_ms": 1.0},
            "curl": {},
        }  # fmt: skip
        places = [(head, None), *more]
        return Finding.model_validate(
            {
                "id": f"f-{phase}{head}", "phase": phase, "operation": "GET /i/{id}",
                "location": head, "kind": "time" if "At" in head else "value", "summary": "s",
                "count": 3, "accepted": False, "accepted_reason": None,
                "accepted_expires": None,
                "example": {"steps": [step], "diff": [], "other_diffs": [], "db_writes": {}},
                "locations": [{"location": loc, "kind": "time" if "At" in loc else "value",
                               "count": 1, "summary": "s", "phase": ph} for loc, ph in places],
            }
        )  # fmt: skip

    stateless = finding("stateless", "body:$.name", ("body:$.updatedAt", "stateful"))
    readback = finding("readback", "body:$.updatedAt")
    other = finding("readback", "body:$.price")
    folded = fold_causes([readback, other, stateless])
    assert [(f.phase, f.location) for f in folded] == [
        ("stateless", "body:$.name"),
        ("readback", "body:$.price"),
    ]
    assert "readback" in folded[0].phases
