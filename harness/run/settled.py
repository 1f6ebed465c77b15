"""Comparing what background jobs ended with (issue 27): the final poll answers of the two
sides, after :meth:`harness.pair.targets.Pair.follow` settled them, and a job that did not
end in time on either side as a finding of its own (location ``settle``, kind ``missing``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import replace

from harness.compare.comparison import Clock, compare_exchange
from harness.compare.normalization import RuleSet
from harness.models import Difference
from harness.pair.settle import Settled
from harness.setup.config import CompareConfig
from harness.setup.contract import Contract

__all__ = ["poll_operation", "settled_differences"]


def poll_operation(contract: Contract, path: str) -> str | None:
    """The contract's GET operation whose path template matches a concrete poll path (its
    normalize rules apply to the job's final answer)."""
    bare = path.split("?", 1)[0]
    for op in contract.operations:
        if op.method != "GET":
            continue
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(contract.base_path + op.path))
        plain = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(op.path))
        if re.fullmatch(pattern, bare) or re.fullmatch(plain, bare):
            return op.id
    return None


def _state(done: Settled) -> str:
    after = " after its service was restarted" if done.restarted else ""
    if done.timed_out:
        return f"no terminal state{after} in {done.waited_s:.1f} s ({done.polls} polls)"
    return f"settled{after}"


def settled_differences(
    settled: dict[str, Settled],
    a: str,
    b: str,
    rules: RuleSet,
    config: CompareConfig,
    clock: Clock | None,
    accepted: Callable[[Difference], bool] | None,
    tally: Counter[str] | None = None,
    learned: Collection[str] = (),
) -> list[Difference]:
    """How the jobs that targets ``a`` and ``b`` started ended differently. A job only one
    side started shows in the first answers already (``learned``: header noise)."""
    first, second = settled.get(a), settled.get(b)
    if first is None or second is None:
        return []
    if tally is not None:
        tally["settled"] += 1
        tally["polls"] += first.polls + second.polls
        # the durability probe: services restarted under a job, and jobs that ended before
        # a poll saw them claimed (restart_when = "running": nothing was restarted)
        tally["restarted"] += first.restarted + second.restarted
        tally["ended_before_restart"] += first.restart_missed + second.restart_missed
    if first.timed_out or second.timed_out:
        if tally is not None:
            tally["timed_out"] += 1
        return [
            Difference(
                location="settle",
                kind="missing",  # the terminal answer is missing on a side
                path="settle",
                legacy=_state(first),
                candidate=_state(second),
                summary="a background job did not reach a terminal state in time"
                + (
                    " (a service was killed and restarted while it ran)"
                    if first.restarted or second.restarted
                    else ""
                ),
            )
        ]
    assert first.final is not None
    assert second.final is not None
    diffs = compare_exchange(
        first.final, second.final, None, None, rules, config, clock, accepted, learned=learned
    )
    return [
        replace(d, path=f"settled {d.path}", summary=f"after the job settled: {d.summary}")
        for d in diffs
    ]
