"""The rows phase's proof: a row state the legacy refuses on every request (a closed case takes
no edit, another unit's row is 403) is the service's rule, not a request that failed; a lost
session (401) or a phase where no state succeeded still counts against the proof."""

from __future__ import annotations

from collections import Counter
from types import SimpleNamespace
from typing import Any

from harness.run.context import GroupTally, RunStats
from harness.run.phases.rows import _uncount_refused_states


def _tally(sent: int, succeeded: int, *statuses: int) -> GroupTally:
    return GroupTally(sent=sent, succeeded=succeeded, legacy=Counter(statuses))


def _run(tallies: dict[str, GroupTally]) -> tuple[Counter[str], list[str]]:
    stats = RunStats()
    sent = sum(t.sent for t in tallies.values())
    stats.meant["rows"] = Counter(sent=sent, succeeded=sum(t.succeeded for t in tallies.values()))
    ctx: Any = SimpleNamespace(stats=stats)
    _uncount_refused_states(ctx, SimpleNamespace(id="PATCH /cases/{id}"), tallies)  # type: ignore[arg-type]
    return stats.meant["rows"], stats.notes


def test_a_state_refused_on_every_request_leaves_the_proof() -> None:
    meant, notes = _run(
        {
            "open": _tally(3, 3, 200, 200, 200),
            "closed": _tally(2, 0, 409, 409),
            "hidden": _tally(2, 0, 403, 404),
        }
    )
    assert meant == Counter(sent=3, succeeded=3)
    assert "closed (2: 409)" in notes[0]
    assert "hidden (2: " in notes[0]


def test_a_lost_session_and_a_mixed_state_still_count() -> None:
    meant, _ = _run(
        {
            "open": _tally(2, 1, 200, 400),  # one request of a state that succeeds: counted
            "closed": _tally(2, 0, 401, 401),  # a lost session is never a state's rule
        }
    )
    assert meant == Counter(sent=4, succeeded=1)


def test_nothing_is_taken_out_when_no_state_succeeded() -> None:
    meant, notes = _run({"open": _tally(2, 0, 404, 404), "closed": _tally(2, 0, 409, 409)})
    assert meant == Counter(sent=4, succeeded=0)
    assert not notes
