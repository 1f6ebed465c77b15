"""Values seen in traffic for the data-driven cases (``harness.cases.datavalues``): the query
parameters and JSON body fields real callers sent, per name, so generated requests also
search, filter and write with what users use (redacted and pseudonymized values never)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any, Protocol

from harness.traffic.capture import REDACTED, Capture

__all__ = ["ValueSink", "feed_values"]

ORIGIN = "traffic"
_MAX_LEN = 200  # longer text is a document, not a value a filter matches


class ValueSink(Protocol):
    """What takes the values (``ValueSource.add``)."""

    def add(
        self, name: str, values: Iterable[Any], origin: str, *, private: bool = False
    ) -> None: ...


def _usable(value: Any) -> bool:
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, str):
        # a keyed-HMAC pseudonym ("p-" + 20 hex) stands for a person, not a value to send
        pseudonym = value.startswith("p-") and len(value) == 22
        return bool(value) and value != REDACTED and not pseudonym and len(value) <= _MAX_LEN
    return isinstance(value, (int, float))


def feed_values(sink: ValueSink, captures: Iterable[Capture], *, private: bool = True) -> int:
    """Add every query value and top-level JSON body field of the captured requests; returns
    how many (name, value) pairs were offered. ``private``: users' data, masked in reports."""
    found: dict[str, list[Any]] = {}
    for cap in captures:
        for ex in cap.exchanges:
            for name, value in ex.request.query:
                if _usable(value):
                    found.setdefault(name, []).append(value)
            body = ex.request.body.decoded() if ex.request.body is not None else None
            if isinstance(body, dict):
                for name, value in body.items():
                    if _usable(value):
                        found.setdefault(name, []).append(value)
    offered = 0
    for name, values in found.items():
        unique = [v for v, _ in Counter(values).most_common()]  # the most used first
        offered += len(unique)
        sink.add(name, unique, ORIGIN, private=private)
    return offered
