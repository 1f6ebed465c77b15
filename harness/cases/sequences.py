"""Lockstep sequences along the contract's OpenAPI links, on both targets at once.

A sequence starts with an operation that has links (a create), then follows links from the
responses seen so far. Each target fills linked parameters from its *own* earlier
responses, so ids that differ between the two still line up. The databases are restored
only at the end of a sequence; the first step where the pair disagrees ends it and is the
finding; a greedy pass then drops steps while the same difference still shows.
"""

from __future__ import annotations

import random
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from harness.models import ExchangeResult, PreparedRequest, Response, walk
from harness.setup.contract import Contract, Link

__all__ = ["SequenceOutcome", "StatefulRunner", "Step"]


@dataclass(frozen=True)
class Step:
    """One planned step: a generated request, and where its linked parameters come from."""

    operation: str
    base: PreparedRequest
    link_from: int | None = None  # index of the earlier step whose responses fill the link
    link: Link | None = None


@dataclass
class SequenceOutcome:
    steps: list[Step]
    results: list[ExchangeResult]
    failed_at: int | None  # index of the first disagreeing step
    broken: bool = False  # a link could not be followed (e.g. a shrunk step removed it)
    drifts: list[int] = field(default_factory=list)  # every disagreeing step

    def until(self, index: int) -> SequenceOutcome:
        """The sequence cut after step ``index`` (a finding's own prefix)."""
        return SequenceOutcome(self.steps[: index + 1], self.results[: index + 1], index)


def pointer(body: Any, expression: str) -> Any:
    """``$response.body#/upload/id`` -> the value at that JSON pointer, or None."""
    _, _, ptr = expression.partition("#")
    return walk(body, [raw.replace("~1", "/").replace("~0", "~") for raw in ptr.split("/")[1:]])


_ID_LIKE = re.compile(r"(^id$|_id$|Id$|^uuid$|At$|_at$)")


def natural_key(item: Any) -> Any:
    """What identifies a list item apart from its ids and clocks: its other scalar fields."""
    if not isinstance(item, dict):
        return item
    return tuple(
        sorted(
            (k, v)
            for k, v in item.items()
            if not _ID_LIKE.search(k) and isinstance(v, str | int | float | bool)
        )
    )


def _pointer_same_item(body: Any, ptr: str, reference: Any) -> Any:
    """Like ``pointer(body, ptr)``, but where ``ptr`` indexes a list, the item taken is the
    one with the same natural key as in ``reference`` (the other side's body), so an
    ordering difference does not send the two sides to different rows."""
    parts = [p.replace("~1", "/").replace("~0", "~") for p in ptr.split("/")[1:]]
    node, ref = body, reference
    for part in parts:
        if isinstance(node, list) and part.isdigit():
            index = int(part)
            if isinstance(ref, list) and index < len(ref):
                wanted = natural_key(ref[index])
                same = [i for i, item in enumerate(node) if natural_key(item) == wanted]
                if len(same) == 1:
                    index = same[0]
            if index >= len(node):
                return None
            node = node[index]
            ref = ref[int(part)] if isinstance(ref, list) and int(part) < len(ref) else None
        elif isinstance(node, dict):
            node = node.get(part)
            ref = ref.get(part) if isinstance(ref, dict) else None
        else:
            return None
    return node


def resolve(
    expression: str, request: PreparedRequest, response: Response, reference: Response | None
) -> Any:
    """A link's runtime expression against one side's step (``reference``: the legacy's
    response, when resolving the candidate's side, to pick list items by natural key)."""
    if expression.startswith("$response.body#"):
        ptr = expression.partition("#")[2]
        if reference is not None:
            return _pointer_same_item(response.body, ptr, reference.body)
        return pointer(response.body, expression)
    if expression.startswith("$response.header."):
        name = expression.removeprefix("$response.header.").lower()
        values = response.header_values(name)
        return values[0] if values else None
    if expression.startswith("$request.path."):
        return dict(request.path_params).get(expression.removeprefix("$request.path."))
    if expression.startswith("$request.query."):
        return dict(request.query).get(expression.removeprefix("$request.query."))
    if expression.startswith("$request.body#"):
        return pointer(request.body, expression)
    return None


def fill(req: PreparedRequest, template: str, values: dict[str, Any]) -> PreparedRequest:
    params = dict(req.path_params)
    params.update({k: str(v) for k, v in values.items()})
    path = template
    for name, value in params.items():
        path = path.replace("{" + name + "}", urllib.parse.quote(value, safe=""))
    return replace(req, path=path, path_params=tuple(params.items()))


class StatefulRunner:
    """Plans, runs and shrinks sequences; ``send`` replays one step on both targets."""

    def __init__(
        self,
        contract: Contract,
        selected: set[str],
        pool: Callable[[str], list[PreparedRequest]],
        send: Callable[[PreparedRequest, PreparedRequest], ExchangeResult],
        reset: Callable[[], None],
        is_drift: Callable[[ExchangeResult], bool],
        seed: int,
        max_steps: int,
        same_status: Callable[[str, int, int], bool] | None = None,
    ) -> None:
        self.same_status = same_status or (lambda _op, legacy, candidate: legacy == candidate)
        self.links = [
            link
            for link in contract.links
            if link.source in selected and link.target in selected and link.parameters
        ]
        self.paths = {op.id: op.path for op in contract.operations}
        self.pool = pool
        self.send = send
        self.reset = reset
        self.is_drift = is_drift
        self.seed = seed
        self.rng = random.Random(seed)
        self.max_steps = max_steps

    def start_sequence(self, k: int) -> None:
        """Sequence ``k`` of a run draws from its own generator, seeded from (seed, k): the
        same whichever other sequences ran before it (``--shard`` runs only some)."""
        self.rng = random.Random(f"parity-sequence:{self.seed}:{k}")

    @property
    def starts(self) -> list[str]:
        return sorted({link.source for link in self.links})

    def _request_pair(
        self, step: Step, results: list[ExchangeResult]
    ) -> tuple[PreparedRequest, PreparedRequest] | None:
        if step.link is None or step.link_from is None:
            return step.base, step.base
        if step.link_from >= len(results):
            return None
        source = results[step.link_from]
        sides = (
            (source.request, source.legacy, source.candidate),
            (source.candidate_request or source.request, source.candidate, source.legacy),
        )
        if not self._answered(source, step.link.status):
            return None
        out: list[PreparedRequest] = []
        for req, resp, other in sides:
            values = {
                name: resolve(expr, req, resp, other if resp is source.candidate else None)
                for name, expr in step.link.parameters
            }
            if any(v is None for v in values.values()):
                return None
            out.append(fill(step.base, self.paths[step.operation], values))
        return out[0], out[1]

    def _answered(self, result: ExchangeResult, status: str) -> bool:
        """Both sides answered the link's status, or one did and a ``status`` rule makes the
        other's answer the same (a port answering 200 for the contract's 201)."""
        if _agrees(result, status):
            return True
        lstatus, cstatus = result.legacy.status, result.candidate.status
        return status in (str(lstatus), str(cstatus)) and self.same_status(
            result.request.operation, lstatus, cstatus
        )

    def run_planned(self, steps: list[Step]) -> SequenceOutcome:
        """Replay a fixed plan (used when shrinking)."""
        results: list[ExchangeResult] = []
        try:
            for index, step in enumerate(steps):
                pair = self._request_pair(step, results)
                if pair is None:
                    return SequenceOutcome(steps[:index], results, None, broken=True)
                result = self.send(*pair)
                results.append(result)
                if self.is_drift(result):
                    return SequenceOutcome(steps[: index + 1], results, index)
            return SequenceOutcome(steps, results, None)
        finally:
            self.reset()

    def run_random(self, role: str | None) -> SequenceOutcome:
        """Plan as we go: each next step follows a link from a response seen so far.

        A step whose bodies or writes differ is recorded (the first one is the sequence's
        finding, ``failed_at``) and the sequence goes on while both sides' status classes
        agree, so one difference does not hide what the next steps do; ``drifts`` lists
        every differing step. A step whose status classes differ ends the sequence, accepted
        or not: the two states have parted."""
        steps: list[Step] = []
        results: list[ExchangeResult] = []
        first: int | None = None
        drifts: list[int] = []
        try:
            start = self.rng.choice(self.starts)
            candidates = self.pool(start)
            if not candidates:
                return SequenceOutcome([], [], None, broken=True)
            # a sequence needs a start that succeeds: the contract's examples first, then
            # up to two random draws (each attempt is compared like any step)
            for attempt in range(START_ATTEMPTS):
                base = candidates[0] if attempt == 0 else self.rng.choice(candidates)
                first_step = Step(start, replace(base, role=role))
                result = self.send(first_step.base, first_step.base)
                if self.is_drift(result) or _succeeded(result) or attempt == START_ATTEMPTS - 1:
                    break
                self.reset()
            steps.append(first_step)
            results.append(result)
            if self.is_drift(result):
                drifts.append(0)
                first = 0
            if _diverged(result):
                return SequenceOutcome(steps, results, first, drifts=drifts)
            while len(steps) <= self.max_steps:
                if len(steps) == len(results):  # the last planned step has run: plan one more
                    if len(steps) == self.max_steps:
                        break
                    options = [
                        (i, link)
                        for i, res in enumerate(results)
                        for link in self.links
                        if link.source == steps[i].operation and self._answered(res, link.status)
                    ]
                    if not options:
                        break
                    index, link = self.rng.choice(options)
                    pool = self.pool(link.target)
                    if not pool:
                        break
                    base = replace(self.rng.choice(pool), role=role)
                    steps.append(Step(link.target, base, index, link))
                    continue
                step = steps[-1]
                pair = self._request_pair(step, results)
                if pair is None:
                    steps.pop()
                    break
                result = self.send(*pair)
                results.append(result)
                if self.is_drift(result):
                    drifts.append(len(results) - 1)
                    if first is None:
                        first = len(results) - 1
                if _diverged(result):
                    break
            steps = steps[: len(results)]
            return SequenceOutcome(steps, results, first, drifts=drifts)
        finally:
            self.reset()

    def shrink(self, outcome: SequenceOutcome, budget: int) -> SequenceOutcome:
        """Drop earlier steps while the last step still shows the same difference."""
        assert outcome.failed_at is not None
        target = _signatures(outcome.results[-1]) & _signatures(outcome.results[-1])
        best = outcome
        improved = True
        while improved and budget > 0 and len(best.steps) > 1:
            improved = False
            for drop in range(len(best.steps) - 1):
                if budget <= 0:
                    break
                plan = _without(best.steps, drop)
                if plan is None:
                    continue
                budget -= 1
                trial = self.run_planned(plan)
                if (
                    trial.failed_at is not None
                    and trial.failed_at == len(plan) - 1
                    and _signatures(trial.results[-1]) & target
                ):
                    best = trial
                    improved = True
                    break
        return best


START_ATTEMPTS = 3


def _succeeded(result: ExchangeResult) -> bool:
    return 200 <= result.legacy.status < 300 and 200 <= result.candidate.status < 300


def _diverged(result: ExchangeResult) -> bool:
    """The two sides answered in different status classes: one did what the other refused,
    so their states differ from here on. The sequence ends even when the difference is
    accepted, or every later step would report that accepted difference's consequences
    (the writes compared are all of the sequence's so far)."""
    return result.legacy.status // 100 != result.candidate.status // 100


def _agrees(result: ExchangeResult, status: str) -> bool:
    return str(result.legacy.status) == status and str(result.candidate.status) == status


def _signatures(result: ExchangeResult) -> set[tuple[str, str]]:
    return {(d.location, d.kind) for d in result.differences}


def _without(steps: list[Step], drop: int) -> list[Step] | None:
    out: list[Step] = []
    for index, step in enumerate(steps):
        if index == drop:
            continue
        if step.link_from is not None:
            if step.link_from == drop:
                return None
            if step.link_from > drop:
                step = replace(step, link_from=step.link_from - 1)
        out.append(step)
    return out


def responses_of(result: ExchangeResult) -> tuple[Response, Response]:
    return result.legacy, result.candidate
