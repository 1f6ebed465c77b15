"""Status, chosen headers, bodies and database writes of one exchange -> differences.

The only module that imports deepdiff; it is called only when the canonical texts differ.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from fnmatch import fnmatchcase
from http.cookies import SimpleCookie
from typing import Any

import orjson
from deepdiff import DeepDiff

from harness.compare.cursors import decoded_cursors
from harness.compare.normalization import (
    IGNORED,
    CompiledRule,
    JsonText,
    RuleSet,
    child_path,
    generalize,
    looks_formatted,
    parse_time,
    shape,
)
from harness.compare.tables import pair_tables
from harness.models import Difference, PreparedRequest, Response, TableWrites, Writes
from harness.setup.config import CompareConfig

__all__ = [
    "NO_ORDER",
    "Clock",
    "body_shape",
    "compare_bodies",
    "compare_exchange",
    "compare_writes",
    "compared_headers",
    "differing_headers",
    "grain",
    "message_template",
    "other_items",
    "request_orders",
    "short",
    "shown_headers",
    "skipped_header",
    "status_cause",
    "time_shift",
]

Window = tuple[float, float]
# the smallest offset a service adds to "now" on purpose (an expiry, a reminder): anything
# between zero and this is a stamp of another (later) request, which a window cannot explain
DESIGNED_OFFSET_S = 1.0


@dataclass(frozen=True)
class Clock:
    """The request windows (epoch seconds, sent .. answered) of each request whose writes
    may still be in the two sides' state: since the last restore, one pair per request.

    A time tolerance applies to two values only when both could have been stamped during
    one of these requests, each in its own side's window shifted by one common offset at or
    after zero (``now``, or ``now + 7 days``); any other two times (a value from the
    snapshot) must match exactly."""

    spans: tuple[tuple[Window, Window], ...] = ()
    # or, read only when needed (a long URL-mode run has thousands): lists of
    # {target: window} as they were when the clock was taken, and the two targets
    sources: tuple[tuple[list[dict[str, Window]], int], ...] = ()
    keys: tuple[str, str] = ("legacy", "candidate")

    @classmethod
    def of(cls, spans: list[dict[str, Window]], a: str, b: str) -> Clock:
        return cls(tuple((s[a], s[b]) for s in spans if a in s and b in s))

    @classmethod
    def over(cls, *lists: list[dict[str, Window]], a: str, b: str) -> Clock:
        """The windows in ``lists`` up to their current lengths (lists only ever grow or
        are replaced by new ones, never cleared in place)."""
        return cls(sources=tuple((x, len(x)) for x in lists), keys=(a, b))

    def _pairs(self) -> Iterator[tuple[Window, Window]]:
        yield from self.spans
        a, b = self.keys
        for items, n in self.sources:
            for s in itertools.islice(items, n):
                if a in s and b in s:
                    yield s[a], s[b]

    def stamped(self, a: float, ga: float, b: float, gb: float, slack: float) -> bool:
        """``a`` (precision ``ga`` s) and ``b`` (``gb``) stamped in one request's windows
        with a common offset >= 0, each side's clock within ``slack`` s of the harness's."""
        for (ls, le), (cs, ce) in self._pairs():
            lo = max(a - le - ga - slack, b - ce - gb - slack, 0.0)
            hi = min(a - ls + ga + slack, b - cs + gb + slack)
            # no offset (both inside the windows), or one a service adds on purpose: a
            # stamp a few ms after its window is a later request's, not "now + 7 days"
            if lo <= hi and (lo == 0.0 or hi >= DESIGNED_OFFSET_S):
                return True
        return False


def grain(text: str) -> float:
    """The precision of an ISO time as written, in seconds: ``.120`` is 10 ms, ``.000`` or
    no fraction 1 s (a clock truncated to seconds and padded), no seconds 60, a date 1 day."""
    if not re.search(r"\d\d:\d\d", text):
        return 86400.0
    m = re.search(r"\d\d:\d\d(:\d\d(\.(\d+))?)?", text)
    if m is None or m.group(1) is None:
        return 60.0
    digits = (m.group(3) or "").rstrip("0")
    return 10.0 ** -len(digits)


def short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _canonical(value: Any) -> bytes:
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=repr).encode()


def _dd_path(parts: list[Any]) -> str:
    path = "$"
    for part in parts:
        path = child_path(path, part)
    return path


def _within(rule: CompiledRule, a: Any, b: Any, clock: Clock | None = None) -> bool:
    if rule.rule.abs is not None and _is_num(a) and _is_num(b):
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=rule.rule.abs)
    if rule.rule.ms is not None and isinstance(a, str) and isinstance(b, str):
        ta, tb = parse_time(a), parse_time(b)
        if ta is None or tb is None or (shape(a) != shape(b) and not rule.rule.any_format):
            return False  # a different format is drift even within tolerance, unless asked
        if abs((ta - tb).total_seconds()) * 1000 > rule.rule.ms:
            return False
        if clock is None or not rule.rule.request_window:
            return True
        slack = rule.rule.skew_ms / 1000 + 0.002  # float and clock-read rounding
        return clock.stamped(ta.timestamp(), grain(a), tb.timestamp(), grain(b), slack)
    return False


def _outside(rules: list[CompiledRule], a: Any, b: Any, clock: Clock | None) -> bool:
    """Within a time tolerance, but not both stamped during a request: said in the summary."""
    return clock is not None and any(
        r.rule.ms is not None and r.rule.request_window and _within(r, a, b) for r in rules
    )


_OUTSIDE = " (within the tolerance, but not both stamped during a request: compared exactly)"


def _is_num(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _value_kind(a: Any, b: Any, masked: bool) -> str:
    if isinstance(a, str) and isinstance(b, str):
        if masked:
            return "format"
        if time_shift(a, b) is not None:
            return "time"
        if shape(a) != shape(b) and looks_formatted(a) and looks_formatted(b):
            if _other_number(a, b):
                return "value"
            return "format"
        return "value"
    if type(a) is not type(b):
        return "type"
    return "value"


def time_shift(a: Any, b: Any) -> str | None:
    """Two times naming other moments: the candidate's shift as read (``+42 s``, ``-1 h``),
    which names the cause (a clock, a zone, an offset) better than the two values; ``None``
    for anything else (the same moment written two ways is a format)."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return None
    ta, tb = parse_time(a), parse_time(b)
    if ta is None or tb is None or ta == tb:
        return None
    if (len(a) <= 10) != (len(b) <= 10):
        return None  # a date against a date-time: a format, not a shift
    seconds = (tb - ta).total_seconds()
    if shape(a) != shape(b) and abs(seconds) < max(grain(a), grain(b)):
        return None  # one moment at two precisions (".000Z" vs ".794272+00:00"): a format
    sign = "+" if seconds > 0 else "-"
    size = abs(seconds)
    for unit, width in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if size >= 2 * width or (size >= width and size % width == 0):
            return f"{sign}{size / width:g} {unit}"
    return f"{sign}{round(size, 3):g} s"


def _shifted(a: Any, b: Any) -> str:
    """`` (time +42 s)`` for two times, else nothing: said after the two values."""
    shift = time_shift(a, b)
    return f" (time {shift})" if shift is not None else ""


def _other_number(a: str, b: str) -> bool:
    """Two numbers as text that are different numbers: "10.50" vs "10.5" is a format
    change, "12345678" vs "1e345678" (two random hex ids that happen to read as numbers)
    is a value change, so it lands in the same place as the rest of that id's noise."""
    if parse_time(a) is not None or parse_time(b) is not None:
        return False
    try:
        return Decimal(a) != Decimal(b)
    except ArithmeticError:
        return False


def _enclosing_list(value: Any, parts: list[Any]) -> tuple[list[Any], Any] | None:
    """The innermost list on ``parts`` (as path parts and the list itself)."""
    node = value
    found: tuple[list[Any], Any] | None = None
    for i, part in enumerate(parts):
        if isinstance(node, list) and isinstance(part, int):
            found = (parts[:i], node)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
    return found


def _sort_value(value: Any) -> tuple[int, Any] | None:
    if _is_num(value):
        return (0, float(value))
    if isinstance(value, str):
        moment = parse_time(value)
        return (1, moment.timestamp()) if moment is not None else (2, value)
    return None


def _orders(items: list[Any]) -> dict[str, tuple[str, bool]]:
    """Each scalar field (``""``: the items themselves) by which ``items`` are sorted:
    field -> (``asc`` | ``desc``, strictly), in the items' own field order."""
    fields: list[str] = []
    if all(isinstance(x, dict) for x in items):
        for item in items:
            fields += [k for k in item if k not in fields]
    else:
        fields = [""]
    out: dict[str, tuple[str, bool]] = {}
    for name in fields:
        keys = [_sort_value(x.get(name) if name else x) for x in items]
        if any(k is None for k in keys) or len({k[0] for k in keys if k}) != 1:
            continue
        seq = [k for k in keys if k is not None]
        if len(set(seq)) < 2:
            continue
        pairs = list(itertools.pairwise(seq))
        if all(a <= b for a, b in pairs):
            out[name] = ("asc", all(a < b for a, b in pairs))
        elif all(a >= b for a, b in pairs):
            out[name] = ("desc", all(a > b for a, b in pairs))
    return out


NO_ORDER = "none found"
"""What an ordering finding says of a side no field of its items orders."""


def ordering_evidence(legacy: list[Any], candidate: list[Any]) -> tuple[str, str] | None:
    """Which key orders each side, when it can tell: ``("createdAt desc", "createdAt asc")``;
    :data:`NO_ORDER` for a side no field orders; ``None`` when neither side is sorted by a
    key the other is not."""
    lo, co = _orders(legacy), _orders(candidate)

    def say(name: str, how: tuple[str, bool]) -> str:
        return f"{name or 'value'} {how[0]}"

    def best(orders: dict[str, tuple[str, bool]], other: dict[str, tuple[str, bool]]) -> str:
        own = [(n, h) for n, h in orders.items() if other.get(n, ("", False))[0] != h[0]]
        own.sort(key=lambda nh: not nh[1][1])  # strictly sorted first, then field order
        return say(*own[0]) if own else NO_ORDER

    flipped = [n for n in lo if n in co and lo[n][0] != co[n][0]]
    flipped.sort(key=lambda n: not (lo[n][1] and co[n][1]))
    if flipped:
        return say(flipped[0], lo[flipped[0]]), say(flipped[0], co[flipped[0]])
    pair = best(lo, co), best(co, lo)
    return None if pair == (NO_ORDER, NO_ORDER) else pair


_ID_NAME = re.compile(r"(^|_)id$|Id$|^uuid$|^key$|^slug$", re.IGNORECASE)


def _identity(legacy: list[Any], candidate: list[Any]) -> str | None:
    """A field that names each item on both sides (unique, scalar), most shared first."""
    if not all(isinstance(x, dict) for x in (*legacy, *candidate)):
        return None
    best: tuple[int, int, str] | None = None
    for rank, name in enumerate(legacy[0] if legacy else ()):
        values = []
        for side in (legacy, candidate):
            got = [x.get(name) for x in side]
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in got):
                break
            if len(set(got)) != len(got):
                break
            values.append(set(got))
        else:
            shared = len(values[0] & values[1])
            key = (-shared, 0 if name == "id" else 1 if _ID_NAME.search(name) else 2 + rank, name)
            if best is None or key < best:
                best = key
    return best[2] if best is not None else None


_PART = re.compile(r'\.([^.\[]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


# a query parameter that names the field to sort by (``sort=-createdAt``, ``order_by=name
# desc``) and one that names only the direction (``order=desc``, ``dir=asc``)
_SORT_PARAM = re.compile(r"^(sort|sort_?by|order_?by|orderby|sort_?field|ordering|order)$", re.I)
_DIR_PARAM = re.compile(r"^(order|dir|direction|sort_?dir|sort_?order|sort_?direction)$", re.I)
_DIRECTION = {"asc": "asc", "ascending": "asc", "desc": "desc", "descending": "desc"}


def _plain(name: str) -> str:
    return name.replace("_", "").replace("-", "").lower()


def _requested_sort(
    query: tuple[tuple[str, str], ...], fields: list[str]
) -> tuple[str, str, str] | None:
    """The field and direction the query asks the list to be sorted by, and the parameters
    that say so: ``("createdAt", "desc", "sort=-createdAt")``; a field must be one of the
    items' (``created_at`` names ``createdAt`` too)."""
    by_plain = {_plain(f): f for f in fields}
    found: tuple[str, str, str] | None = None
    direction: tuple[str, str] | None = None
    for name, value in query:
        raw = value.strip()
        if _DIR_PARAM.match(name) and raw.lower() in _DIRECTION:
            direction = (_DIRECTION[raw.lower()], f"{name}={value}")
            continue
        if not _SORT_PARAM.match(name) or found is not None:
            continue
        first = re.split(r"[,;]", raw, maxsplit=1)[0].strip()
        how = "asc"
        if first[:1] in "-+" and first[1:]:
            how, first = ("desc" if first[0] == "-" else "asc"), first[1:]
        words = re.split(r"[\s:.]+", first)
        if len(words) == 2 and words[1].lower() in _DIRECTION:
            first, how = words[0], _DIRECTION[words[1].lower()]
        else:  # "createdAt,desc": the direction after the field
            rest = raw.split(",")[1:2]
            if rest and rest[0].strip().lower() in _DIRECTION:
                how = _DIRECTION[rest[0].strip().lower()]
        field = by_plain.get(_plain(first))
        if field is not None:
            found = (field, how, f"{name}={value}")
    if found is None:
        return None
    if direction is not None:  # a direction of its own: it decides
        return (found[0], direction[0], f"{found[2]}&{direction[1]}")
    return found


def _listed_order(req: PreparedRequest, items: list[Any], key: str) -> str | None:
    """The request parameter whose values list these items, in their order (``ids=3,1,2``,
    a JSON body's ``{"ids": [3, 1, 2]}``): an order the request gave, not a field's."""
    ids = [str(x.get(key)) for x in items]
    named: dict[str, list[str]] = {}
    for name, value in req.query:
        named.setdefault(name, []).extend(v.strip() for v in value.split(","))
    if isinstance(req.body, dict):
        for name, value in req.body.items():
            if isinstance(value, list) and all(isinstance(v, str | int) for v in value):
                named.setdefault(name, []).extend(str(v) for v in value)
    for name, values in named.items():
        wanted = [v for v in values if v in set(ids)]
        if len(wanted) >= 2 and wanted == [i for i in ids if i in set(wanted)]:
            return name
    return None


def request_orders(
    req: PreparedRequest, legacy: Any, candidate: Any, diffs: list[Difference]
) -> list[Difference]:
    """Ordering differences told by the request: a side whose list follows the order the
    request asks for (a sort parameter naming a field and a direction, or the items listed
    by id in the request) says "an order given by the request" and which; a side no field
    orders and the request does not either stays :data:`NO_ORDER`."""
    out: list[Difference] = []
    for d in diffs:
        if d.kind != "ordering" or not d.location.startswith("body:"):
            out.append(d)
            continue
        parts: list[Any] = []
        for m in _PART.finditer(d.path.removeprefix("$")):
            parts.append(m.group(1) or (int(m.group(2)) if m.group(2) else json.loads(m.group(3))))
        lists = [_get(legacy, parts), _get(candidate, parts)]
        if not all(
            isinstance(x, list) and x and all(isinstance(i, dict) for i in x) for x in lists
        ):
            out.append(d)
            continue
        fields = list(dict.fromkeys(k for side in lists for item in side for k in item))
        wanted = _requested_sort(req.query, fields)
        key = _identity(lists[0], lists[1])
        said = [d.legacy, d.candidate]
        for i, items in enumerate(lists):
            orders = _orders(items)
            if wanted is not None and orders.get(wanted[0], ("", False))[0] == wanted[1]:
                said[i] = f"{wanted[0]} {wanted[1]}: an order given by the request ({wanted[2]})"
            elif key is not None and (listed := _listed_order(req, items, key)) is not None:
                said[i] = f"an order given by the request ({listed})"
        if said == [d.legacy, d.candidate]:
            out.append(d)
            continue
        head = d.summary.split(" (legacy: ", 1)[0]
        out.append(
            replace(
                d,
                legacy=said[0],
                candidate=said[1],
                summary=f"{head} (legacy: {said[0]}; candidate: {said[1]})",
            )
        )
    return out


def other_items(legacy: Any, candidate: Any, path: str, listed: str) -> bool:
    """At the list enclosing ``path`` whose generalized place is ``listed`` (``$.items``),
    the two sides list as many items but other ones (by their identity field): a page drawn
    by another order, so the fields that differ there are that order's doing, not changes."""
    parts: list[Any] = []
    for m in _PART.finditer(path.removeprefix("$")):
        parts.append(m.group(1) if m.group(1) is not None else None)
        if m.group(2) is not None:
            parts[-1] = int(m.group(2))
        elif m.group(3) is not None:
            parts[-1] = json.loads(m.group(3))
        if generalize(_dd_path(parts)) == listed:
            a, b = _get(legacy, parts), _get(candidate, parts)
            if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b) or not a:
                return False
            key = _named_identity(a, b) or (_identity(a, b) if len(a) >= 3 else None)
            return key is not None and {x[key] for x in a} != {x[key] for x in b}
    return False


def _named_identity(legacy: list[Any], candidate: list[Any]) -> str | None:
    """An id-named field (``id`` first) that names each item on both sides: on a short
    list, a field that merely agrees (an empty ``body``) must not pass for an identity."""
    if not all(isinstance(x, dict) for x in (*legacy, *candidate)):
        return None
    names = sorted((n for n in legacy[0] if _ID_NAME.search(n)), key=lambda n: n != "id")
    for name in names:
        sides = [[x.get(name) for x in side] for side in (legacy, candidate)]
        if all(
            all(isinstance(v, str | int) and not isinstance(v, bool) for v in got)
            and len(set(got)) == len(got)
            for got in sides
        ):
            return str(name)
    return None


def _align(
    legacy: Any, candidate: Any, path: str, out: list[Difference], prefix: str
) -> tuple[Any, Any]:
    """Lists of the same items (by an identity field) in another order, or two pages of one
    listing drawn by different sort orders: one ``ordering`` difference each, with the
    evidence; the candidate's items are then lined up with the legacy's so the items
    themselves are compared field by field (a page's items the other side did not draw are
    left out: the order explains them)."""
    if isinstance(legacy, dict) and isinstance(candidate, dict):
        pairs = {
            k: _align(legacy[k], candidate[k], child_path(path, k), out, prefix)
            for k in legacy
            if k in candidate
        }
        return (
            {k: pairs[k][0] if k in pairs else v for k, v in legacy.items()},
            {k: pairs[k][1] if k in pairs else v for k, v in candidate.items()},
        )
    if not (isinstance(legacy, list) and isinstance(candidate, list)):
        return legacy, candidate
    key = _identity(legacy, candidate) if len(legacy) > 1 and len(candidate) > 1 else None
    if key is not None:
        lids = [x[key] for x in legacy]
        cids = [x[key] for x in candidate]
        common = set(lids) & set(cids)
        lcommon = [i for i in lids if i in common]
        ccommon = [i for i in cids if i in common]
        reordered = lcommon != ccommon and len(common) > 1
        evidence = None
        if reordered or (set(lids) != set(cids) and len(lids) == len(cids) >= 3):
            evidence = ordering_evidence(legacy, candidate)  # only where it can matter
        paged = (
            not reordered
            and set(lids) != set(cids)
            and len(lids) == len(cids) >= 3
            and evidence is not None
            and NO_ORDER not in evidence
        )
        if reordered or paged:
            shown = evidence or (NO_ORDER, NO_ORDER)
            out.append(
                Difference(
                    prefix + generalize(path),
                    "ordering",
                    path,
                    shown[0],
                    shown[1],
                    f"{path}: "
                    + ("same items in a different order" if reordered else "another page")
                    + f" (legacy: {shown[0]}; candidate: {shown[1]})",
                )
            )
            by_id = {x[key]: x for x in candidate}
            if len(legacy) == len(candidate):
                legacy = [x for x in legacy if x[key] in common]
                candidate = [by_id[i] for i in lcommon]
            else:
                legacy = [x for x in legacy if x[key] in common] + [
                    x for x in legacy if x[key] not in common
                ]
                candidate = [by_id[i] for i in lcommon] + [
                    x for x in candidate if x[key] not in common
                ]
    if len(legacy) != len(candidate):
        return legacy, candidate
    aligned = [
        _align(a, b, child_path(path, i), out, prefix)
        for i, (a, b) in enumerate(zip(legacy, candidate, strict=True))
    ]
    return [a for a, _ in aligned], [b for _, b in aligned]


def _share_equal(legacy: Any, candidate: Any) -> Any:
    """``candidate`` with each container that equals the legacy's at the same place (exact
    JSON equality: ``1`` is not ``1.0``) replaced by the legacy's object. DeepDiff skips two
    identical objects at once and walks equal ones item by item: a list of 100 rows with one
    differing field took 40 ms, now the differing rows only."""
    if legacy is candidate:
        return candidate
    if isinstance(legacy, dict) and isinstance(candidate, dict):
        if _canonical(legacy) == _canonical(candidate):
            return legacy
        return {k: _share_equal(legacy[k], v) if k in legacy else v for k, v in candidate.items()}
    if isinstance(legacy, list) and isinstance(candidate, list):
        if _canonical(legacy) == _canonical(candidate):
            return legacy
        shared = [_share_equal(a, b) for a, b in zip(legacy, candidate, strict=False)]
        return shared + candidate[len(shared) :]
    return candidate


def compare_bodies(
    legacy: Any,
    candidate: Any,
    rules: RuleSet,
    sub: list[CompiledRule] | None = None,
    prefix: str = "body:",
    clock: Clock | None = None,
) -> list[Difference]:
    """Bodies already normalized; tolerance rules applied here (a time tolerance only to
    values stamped during a request of ``clock``), ordering detected."""
    if _canonical(legacy) == _canonical(candidate):
        return []
    if not isinstance(legacy, dict | list) or not isinstance(candidate, dict | list):
        kind = _value_kind(legacy, candidate, rules.masked_at("$", sub))
        if isinstance(legacy, dict | list) != isinstance(candidate, dict | list):
            kind = "type"
        return [
            Difference(
                f"{prefix}$",
                kind,
                "$",
                legacy,
                candidate,
                f"$: {short(legacy)} vs {short(candidate)}" + _shifted(legacy, candidate),
            )
        ]
    out: list[Difference] = []
    legacy, candidate = _align(legacy, candidate, "$", out, prefix)
    candidate = _share_equal(legacy, candidate)
    tree = DeepDiff(
        legacy,
        candidate,
        threshold_to_diff_deeper=0,
        view="tree",
        verbose_level=2,
        ignore_numeric_type_changes=False,
    )
    ordered_lists: dict[str, bool] = {}
    list_parts: dict[str, list[Any]] = {}
    resized_lists: dict[str, tuple[list[Any], list[Any]]] = {}
    for report_type, items in tree.items():
        for item in items:
            parts = item.path(output_format="list")
            path = _dd_path(parts)
            a = item.t1
            b = item.t2
            # an array that grew or shrank: one difference for the array (items shift, so
            # element-wise diffs would be noise)
            resized = _resized_list(legacy, candidate, parts)
            if resized is not None:
                rpath = _dd_path(resized[0])
                if rpath not in resized_lists:
                    resized_lists[rpath] = resized[1:]
                continue
            # an array with the same items in another order: one "ordering" difference
            hit = _enclosing_list(legacy, parts)
            if hit is not None:
                lpath = _dd_path(hit[0])
                if lpath not in ordered_lists:
                    list_parts[lpath] = hit[0]
                    other = _get(candidate, hit[0])
                    ordered_lists[lpath] = (
                        isinstance(other, list)
                        and len(other) == len(hit[1])
                        and sorted(_canonical(x) for x in other)
                        == sorted(_canonical(x) for x in hit[1])
                    )
                if ordered_lists[lpath]:
                    continue
            if report_type in ("dictionary_item_removed", "iterable_item_removed"):
                kind, summary = "missing", f"{path} missing in candidate (legacy: {short(a)})"
                b = None
            elif report_type in ("dictionary_item_added", "iterable_item_added"):
                kind, summary = "extra", f"{path} only in candidate: {short(b)}"
                a = None
            elif report_type == "type_changes":
                kind = "type"
                if _is_num(a) and _is_num(b):
                    kind = "format"  # 1 vs 1.0
                summary = f"{path}: {short(a)} vs {short(b)}"
            elif report_type == "values_changed":
                tolerant = rules.tolerance(path, sub)
                if any(_within(r, a, b, clock) for r in tolerant):
                    continue
                kind = _value_kind(a, b, rules.masked_at(path, sub))
                summary = f"{path}: {short(a)} vs {short(b)}" + _shifted(a, b)
                if _outside(tolerant, a, b, clock):
                    summary += _OUTSIDE
            else:
                kind, summary = "value", f"{path}: {report_type}"
            out.append(Difference(prefix + generalize(path), kind, path, a, b, summary))
    for rpath, (la, ca) in resized_lists.items():
        legacy_set = [_canonical(x) for x in la]
        candidate_set = [_canonical(x) for x in ca]
        extra = [x for x, k in zip(ca, candidate_set, strict=True) if k not in legacy_set]
        missing = [x for x, k in zip(la, legacy_set, strict=True) if k not in candidate_set]
        kind = "extra" if len(ca) > len(la) else "missing"
        detail = extra[:1] if kind == "extra" else missing[:1]
        out.append(
            Difference(
                prefix + generalize(rpath),
                kind,
                rpath,
                la,
                ca,
                f"{rpath}: {len(la)} item(s) vs {len(ca)}"
                + (
                    f"; {'only in candidate' if kind == 'extra' else 'missing'}: {short(detail[0])}"
                    if detail
                    else ""
                ),
            )
        )
    for lpath, reordered in ordered_lists.items():
        if reordered:
            la, ca = _get(legacy, list_parts[lpath]), _get(candidate, list_parts[lpath])
            found = ordering_evidence(la, ca) if isinstance(la, list) and la else None
            shown = found or (NO_ORDER, NO_ORDER)
            out.append(
                Difference(
                    prefix + generalize(lpath),
                    "ordering",
                    lpath,
                    shown[0],
                    shown[1],
                    f"{lpath}: same items in a different order "
                    f"(legacy: {shown[0]}; candidate: {shown[1]})",
                )
            )
    return out


def _resized_list(
    legacy: Any, candidate: Any, parts: list[Any]
) -> tuple[list[Any], list[Any], list[Any]] | None:
    """The outermost list on ``parts`` whose length differs between the two sides."""
    a, b = legacy, candidate
    for i, part in enumerate(parts):
        if isinstance(a, list) and isinstance(b, list) and len(a) != len(b):
            return parts[:i], a, b
        try:
            a, b = a[part], b[part]
        except (KeyError, IndexError, TypeError):
            return None
    if isinstance(a, list) and isinstance(b, list) and len(a) != len(b):
        return parts, a, b
    return None


def _get(value: Any, parts: list[Any]) -> Any:
    for part in parts:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def _cookies(values: list[str], keep_values: set[str]) -> dict[str, dict[str, str | None]]:
    out: dict[str, dict[str, str | None]] = {}
    for raw in values:
        name, _, rest = raw.partition("=")
        attrs: dict[str, str | None] = {}
        for piece in rest.split(";")[1:]:
            key, eq, val = piece.strip().partition("=")
            key = key.lower()
            if not key:
                continue
            attrs[key] = (
                (val.lower() if key == "samesite" else val) if (eq and key in keep_values) else None
            )
        out[name.strip()] = attrs
    return out


_ = SimpleCookie  # documented alternative; the manual parser keeps attribute order and names


def skipped_header(config: CompareConfig, name: str) -> bool:
    """``[compare] skip_headers`` names (or globs) ``name``."""
    return any(fnmatchcase(name, pattern.lower()) for pattern in config.skip_headers)


def compared_headers(
    config: CompareConfig,
    legacy: Response,
    candidate: Response,
    learned: Collection[str] = (),
) -> list[str]:
    """The header names one exchange compares: an explicit list as it is; with ``"*"``
    every name either side answered with but the skipped and the learned (noise) ones, and
    the names listed beside ``"*"`` whatever the skip list says."""
    explicit = [h.lower() for h in config.headers if h != "*"]
    if "*" not in config.headers:
        return explicit
    seen = {k for k, _ in legacy.headers} | {k for k, _ in candidate.headers}
    rest = sorted(n for n in seen if n not in learned and not skipped_header(config, n))
    return list(dict.fromkeys([*explicit, *rest]))


def shown_headers(config: CompareConfig) -> list[str] | None:
    """The headers a report shows of an answer: the compared ones and content-type; every
    one (None) with ``"*"``."""
    return None if "*" in config.headers else [*config.headers, "content-type"]


def differing_headers(config: CompareConfig, first: Response, second: Response) -> dict[str, str]:
    """Header names ``"*"`` would compare whose values differ between two answers (of the
    legacy to one request: noise), with the evidence."""
    out: dict[str, str] = {}
    for name in compared_headers(config, first, second):
        if name in (h.lower() for h in config.headers):
            continue  # named explicitly: always compared
        a, b = first.header_values(name), second.header_values(name)
        if name == "set-cookie":
            keep = set(config.cookie_attribute_values)
            if _cookies(a, keep) == _cookies(b, keep):
                continue
        elif a == b:
            continue
        out[name] = f"{name}: {short(a)} then {short(b)}"
    return out


def _header_diffs(
    legacy: Response,
    candidate: Response,
    config: CompareConfig,
    rules: RuleSet,
    learned: Collection[str] = (),
) -> list[Difference]:
    out: list[Difference] = []
    for name in compared_headers(config, legacy, candidate, learned):
        hrules = rules.header_rules(name)
        if any(r.action == "ignore" for r in hrules):
            continue
        lv, cv = legacy.header_values(name), candidate.header_values(name)
        if name == "set-cookie":
            lc = _cookies(lv, set(config.cookie_attribute_values))
            cc = _cookies(cv, set(config.cookie_attribute_values))
            if lc != cc:
                out.append(
                    Difference(
                        f"header:{name}",
                        "header",
                        name,
                        lv,
                        cv,
                        f"set-cookie: {short(lc, 120)} vs {short(cc, 120)}",
                    )
                )
            continue
        if name == "content-type":
            lv = [v.replace(" ", "").lower() for v in lv]
            cv = [v.replace(" ", "").lower() for v in cv]
        for rule in hrules:
            if rule.action == "mask":
                lv = [rule.apply_mask(v) for v in lv]
                cv = [rule.apply_mask(v) for v in cv]
        if lv != cv:
            a = lv[0] if len(lv) == 1 else (lv or None)
            b = cv[0] if len(cv) == 1 else (cv or None)
            out.append(
                Difference(
                    f"header:{name}", "header", name, a, b, f"{name}: {short(a)} vs {short(b)}"
                )
            )
    return out


def body_shape(value: Any) -> str:
    """What tells two answers apart at a glance: an object's keys, a list's first item,
    a scalar's type (``{code,message}``, ``[{id,title}]``, ``str``)."""
    if isinstance(value, dict):
        return "{" + ",".join(sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + (body_shape(value[0]) if value else "") + "]"
    return "empty" if value is None else type(value).__name__


# where an error answer says what went wrong, most specific name first (RFC 9457's
# ``title``/``detail``, FastAPI's ``detail[].msg``, OAuth's ``error_description``)
_MESSAGE_KEYS = (
    "message", "error", "detail", "title", "msg", "error_description", "description",
    "reason", "errors",
)  # fmt: skip
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_QUOTED = re.compile(r"""(?<!\w)(['"`])[^'"`]*\1(?!\w)""")
_TOKEN = re.compile(r"\b(?=[0-9a-z]*\d)[0-9a-z_-]{12,}\b", re.I)  # keys, hashes, request ids
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _error_message(body: Any, depth: int = 0) -> str | None:
    """The text an error answer gives as its message: a field named like one (inside an
    ``error`` object or the first item of an ``errors`` list too), or a text body's first
    line."""
    if depth > 3:
        return None
    if isinstance(body, str):
        line = body.strip().split("\n", 1)[0]
        return line or None
    if isinstance(body, list):
        return _error_message(body[0], depth + 1) if body else None
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            found = _error_message(body.get(key), depth + 1) if key in body else None
            if found:
                return found
    return None


def message_template(text: str) -> str:
    """A message with what differs per request replaced: ids and uuids, quoted values,
    numbers and times (``note 'x1' not found (id 42)`` -> ``note <v> not found (id #)``), so
    one cause with another id in its message stays one cause."""
    text = _UUID.sub("<id>", text)
    text = _QUOTED.sub("<v>", text)
    text = _TOKEN.sub("<id>", text)
    text = _NUMBER.sub("#", text)
    return " ".join(text.split())[:80]


def status_cause(legacy: Response, candidate: Response) -> str:
    """What tells the cause of a status difference from another one under the same status
    pair: the two bodies' shapes, and the two error messages when they differ (a message
    both sides give names the input, not the difference: a field each side rejects alike
    is one cause, whatever field it is). Messages are templates (:func:`message_template`)
    and only an error answer's (4xx, 5xx) count: a 2xx body's text is data."""
    out = f"{body_shape(legacy.body)} -> {body_shape(candidate.body)}"
    said = [
        message_template(m) if r.status >= 400 and (m := _error_message(r.body)) else ""
        for r in (legacy, candidate)
    ]
    if said[0] != said[1]:
        out += " · " + " -> ".join(repr(m) if m else "-" for m in said)
    return out


def compare_exchange(
    legacy: Response,
    candidate: Response,
    legacy_writes: Writes | None,
    candidate_writes: Writes | None,
    rules: RuleSet,
    config: CompareConfig,
    clock: Clock | None = None,
    accepted: Callable[[Difference], bool] | None = None,
    learned: Collection[str] = (),
) -> list[Difference]:
    """Every difference of one exchange (``learned``: header names the run learned are
    noise, left out of ``"*"``); a status mismatch alone is reported (root cause),
    unless a ``status`` rule declares the two statuses equivalent or ``accepted`` (an accept
    rule) covers it: a known status difference must not hide the body, headers and writes.
    ``clock``: the request windows a time tolerance is limited to (None: any two times
    within the tolerance)."""
    diffs: list[Difference] = []
    if not rules.same_status(legacy.status, candidate.status):
        status = Difference(
            f"status:{legacy.status} vs {candidate.status}",
            "status",
            "status",
            legacy.status,
            candidate.status,
            f"status {legacy.status} vs {candidate.status}",
            cause=status_cause(legacy, candidate),
        )
        if accepted is None or not accepted(status):
            # a table both sides wrote under other names is a cause of its own
            renamed = []
            if legacy_writes is not None and candidate_writes is not None:
                renamed = pair_tables(legacy_writes, candidate_writes)[1]
            return [status, *renamed]
        diffs.append(status)
    diffs += _header_diffs(legacy, candidate, config, rules, learned)
    if not _read_alike(legacy, candidate):
        diffs += _body_diffs(legacy, candidate, rules, clock)
    if legacy_writes is not None and candidate_writes is not None:
        diffs += compare_writes(legacy_writes, candidate_writes, rules, clock)
    return diffs


def _read_alike(legacy: Response, candidate: Response) -> bool:
    """The same bytes under the same media type: both sides parse them alike and the rules
    (which never depend on the side) normalize them alike, so no body difference can come
    out of comparing them; large bodies (exports, long lists) skip the work."""
    if legacy.text != candidate.text:
        return False
    if not legacy.text and (legacy.body is not None or candidate.body is not None):
        return False  # a response built without its text: compare the bodies
    return legacy.header_values("content-type") == candidate.header_values("content-type")


def _body_diffs(
    legacy: Response, candidate: Response, rules: RuleSet, clock: Clock | None
) -> list[Difference]:
    lcsv, ccsv = _csv_table(legacy), _csv_table(candidate)
    if lcsv is not None and ccsv is not None:
        found = _compare_csv(lcsv, ccsv, rules, clock)
        # other bytes for the same cells; where cells differ (within the rules, such as
        # times each side stamped), the bytes differ for that reason alone
        if not found and legacy.text != candidate.text and lcsv == ccsv:
            found = [_csv_written_differently(legacy.text, candidate.text)]
        return found
    lb = rules.normalize_body(legacy.body)
    cb = rules.normalize_body(candidate.body)
    if lb is IGNORED or cb is IGNORED:
        lb = cb = None
    lb, cb = decoded_cursors(lb, cb)  # opaque tokens compared by what they carry
    return compare_bodies(lb, cb, rules, clock=clock)


def _csv_table(resp: Response) -> tuple[str, list[dict[str, Any]]] | None:
    """A ``text/csv`` body as (header line, rows keyed by the header's columns)."""
    media = ",".join(resp.header_values("content-type")).split(";")[0].strip().lower()
    if media not in ("text/csv", "application/csv") or not isinstance(resp.body, str):
        return None
    text = resp.body[1:] if resp.body.startswith("\ufeff") else resp.body
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        return None
    if not rows:
        return "", []
    header = rows[0]
    names = [h if h not in header[:i] else f"{h}#{i}" for i, h in enumerate(header)]
    line = text.split("\n", 1)[0].rstrip("\r")
    table = [
        {
            **dict(zip(names, r, strict=False)),
            **({"#extra": r[len(names) :]} if len(r) > len(names) else {}),
        }
        for r in rows[1:]
    ]
    return line, table


def _csv_written_differently(a: str, b: str) -> Difference:
    """Same rows and columns, other bytes: quoting, line ends or a BOM."""
    la, lb = a.splitlines(keepends=True), b.splitlines(keepends=True)
    at = next((i for i, (x, y) in enumerate(zip(la, lb, strict=False)) if x != y), 0)
    first_a = la[at] if at < len(la) else ""
    first_b = lb[at] if at < len(lb) else ""
    return Difference(
        "body:csv",
        "format",
        f"csv line {at + 1}",
        first_a,
        first_b,
        f"same rows, written differently (quoting, line ends or BOM) from line {at + 1}: "
        f"{short(first_a)} vs {short(first_b)}",
    )


def _compare_csv(
    legacy: tuple[str, list[dict[str, Any]]],
    candidate: tuple[str, list[dict[str, Any]]],
    rules: RuleSet,
    clock: Clock | None = None,
) -> list[Difference]:
    """CSV bodies as rows and columns (``body:csv[*].column``); the header line as it is."""
    out: list[Difference] = []
    if legacy[0] != candidate[0]:
        out.append(
            Difference(
                "body:csv.header",
                "format"
                if sorted(legacy[0].split(",")) == sorted(candidate[0].split(","))
                else "value",
                "csv.header",
                legacy[0],
                candidate[0],
                f"CSV header: {short(legacy[0])} vs {short(candidate[0])}",
            )
        )
    for d in compare_bodies(
        rules.normalize_body(legacy[1]),
        rules.normalize_body(candidate[1]),
        rules,
        prefix="",
        clock=clock,
    ):
        location = "body:csv" + d.location.removeprefix("$")
        out.append(replace(d, location=location, summary="csv" + d.summary.removeprefix("$")))
    return out


def _row_diffs(
    table: str,
    kind: str,
    label: str,
    lrow: dict[str, Any],
    crow: dict[str, Any],
    rules: RuleSet,
    clock: Clock | None = None,
) -> list[Difference]:
    out: list[Difference] = []
    for column in sorted(set(lrow) | set(crow)):
        if column == "rowid":
            continue
        a, b = lrow.get(column), crow.get(column)
        if a == b:
            continue
        crules = rules.column_rules(table, column)
        tolerant = [r for r in crules if r.action == "tolerance" and r.regex is None]
        if any(_within(r, a, b, clock) for r in tolerant):
            continue
        loc = f"db:{table}.{column}"
        if isinstance(a, JsonText) and isinstance(b, JsonText):
            if a.value == b.value:
                out.append(
                    Difference(
                        loc,
                        kind,
                        f"{label}.{column}",
                        a.raw,
                        b.raw,
                        f"{label}.{column}: JSON written differently: "
                        f"{short(a.raw)} vs {short(b.raw)}",
                    )
                )
                continue
            sub = [r for r in crules if r.regex is not None]
            inner = compare_bodies(a.value, b.value, rules, sub, prefix="", clock=clock)
            if not inner:
                continue
            first = inner[0]
            out.append(
                Difference(
                    loc,
                    kind,
                    f"{label}.{column}",
                    a.value,
                    b.value,
                    f"{label}.{column} {first.summary} ({first.kind})"
                    + (f" +{len(inner) - 1} more" if len(inner) > 1 else ""),
                )
            )
            continue
        av = a.raw if isinstance(a, JsonText) else a
        bv = b.raw if isinstance(b, JsonText) else b
        what = _value_kind(av, bv, any(r.action == "mask" for r in crules))
        out.append(
            Difference(
                loc,
                kind,
                f"{label}.{column}",
                av,
                bv,
                f"{label}.{column}: {short(av)} vs {short(bv)}"
                + (" (format)" if what == "format" else "")
                + (_shifted(av, bv) if what == "time" else "")
                + (_OUTSIDE if _outside(tolerant, av, bv, clock) else ""),
            )
        )
    return out


def _change_diffs(
    table: str, key: Any, legacy: dict[str, Any], candidate: dict[str, Any], reported: set[str]
) -> list[Difference]:
    """A column one side changed and the other left as it was, each against its own row
    before the request: drift even where a mask or tolerance makes the values compare equal
    (a port that no longer bumps ``updatedAt`` on an update)."""
    out: list[Difference] = []
    lb, la = legacy.get("before") or {}, legacy.get("after") or {}
    cb, ca = candidate.get("before") or {}, candidate.get("after") or {}
    for column in sorted(set(la) | set(ca)):
        loc = f"db:{table}.{column}"
        if column == "rowid" or loc in reported:
            continue
        l_changed = lb.get(column) != la.get(column)
        c_changed = cb.get(column) != ca.get(column)
        if l_changed == c_changed:
            continue
        who, other = ("legacy", "candidate") if l_changed else ("candidate", "legacy")
        out.append(
            Difference(
                loc,
                "db_update",
                f"{table}[rowid={key}].{column}",
                "changed" if l_changed else "unchanged",
                "changed" if c_changed else "unchanged",
                f"{table}[rowid={key}].{column}: the {who} changed it, the {other} left it as "
                "it was",
            )
        )
    return out


SEQUENCES = "sqlite_sequence"


def _without_counters(writes: Writes, tables: set[str]) -> Writes:
    """``writes`` minus the sqlite_sequence rows (AUTOINCREMENT counters) of ``tables``."""
    seq = writes.get(SEQUENCES)
    if seq is None:
        return writes
    kept = TableWrites(
        inserted=[r for r in seq.inserted if r.get("name") not in tables],
        updated=[r for r in seq.updated if r.get("rowid") not in tables],
        deleted=[r for r in seq.deleted if r.get("name") not in tables],
    )
    out = {k: v for k, v in writes.items() if k != SEQUENCES}
    if kept:
        out[SEQUENCES] = kept
    return out


def compare_writes(
    legacy: Writes, candidate: Writes, rules: RuleSet, clock: Clock | None = None
) -> list[Difference]:
    # a table only one side wrote, alike another only the other side wrote: one renamed table
    candidate, out = pair_tables(legacy, candidate)
    empty = TableWrites()
    # A table's AUTOINCREMENT counter follows its inserts: where the numbers of inserted rows
    # already differ, its sqlite_sequence row differing too is the same drift, reported once.
    recounted = {
        t
        for t in set(legacy) | set(candidate)
        if t != SEQUENCES
        and len(legacy.get(t, empty).inserted) != len(candidate.get(t, empty).inserted)
    }
    if recounted:
        legacy = _without_counters(legacy, recounted)
        candidate = _without_counters(candidate, recounted)
    for table in sorted(set(legacy) | set(candidate)):
        lw, cw = legacy.get(table, empty), candidate.get(table, empty)
        # inserted rows pair up in order
        li = [rules.normalize_row(table, r) for r in lw.inserted]
        ci = [rules.normalize_row(table, r) for r in cw.inserted]
        if len(li) != len(ci):
            out.append(
                Difference(
                    f"db:{table}",
                    "db_insert",
                    table,
                    len(li),
                    len(ci),
                    f"{table}: legacy inserted {len(li)} row(s), candidate {len(ci)}",
                )
            )
        for n, (lrow, crow) in enumerate(zip(li, ci, strict=False)):
            out += _row_diffs(table, "db_insert", f"{table}[+{n}]", lrow, crow, rules, clock)
        lu = {r["rowid"]: r for r in lw.updated}
        cu = {r["rowid"]: r for r in cw.updated}
        if lu.keys() != cu.keys():
            out.append(
                Difference(
                    f"db:{table}",
                    "db_update",
                    table,
                    sorted(lu),
                    sorted(cu),
                    f"{table}: legacy updated rows {sorted(lu)[:10]}, candidate {sorted(cu)[:10]}",
                )
            )
        for key in sorted(lu.keys() & cu.keys()):
            la = rules.normalize_row(table, lu[key]["after"])
            ca = rules.normalize_row(table, cu[key]["after"])
            found = _row_diffs(table, "db_update", f"{table}[rowid={key}]", la, ca, rules, clock)
            out += found
            out += _change_diffs(table, key, lu[key], cu[key], {d.location for d in found})
        ld = sorted(str(r.get("rowid", r)) for r in lw.deleted)
        cd = sorted(str(r.get("rowid", r)) for r in cw.deleted)
        if ld != cd:
            out.append(
                Difference(
                    f"db:{table}",
                    "db_delete",
                    table,
                    ld[:20],
                    cd[:20],
                    f"{table}: legacy deleted {len(ld)} row(s), candidate {len(cd)}",
                )
            )
    return out
