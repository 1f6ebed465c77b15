"""Values drawn from the data: one source of real values per field name, learned from the
snapshot's tables (and, later, from captured traffic), for parameters that select or match
rows. A generated string rarely matches a stored one; a stored word, prefix or instant does.

Not wired into the phases yet: :class:`ValueSource` is the interface a phase (or the traffic
replay, through :meth:`ValueSource.add`) feeds and reads.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

__all__ = ["ValueSource", "time_variants", "words_and_prefixes"]

_WORD = re.compile(r"\w{3,}", re.UNICODE)
_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
PER_FIELD = 40  # values kept per field and origin: enough to vary, few enough for a budget


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


def words_and_prefixes(text: str) -> list[str]:
    """The words of a stored text and a prefix of its first word (what a search matches)."""
    words = _WORD.findall(text)
    out = list(dict.fromkeys(words))
    if words:
        out.append(words[0][: max(1, len(words[0]) // 2)])
    return out


def time_variants(text: str) -> list[str]:
    """A stored instant as stored, cut to seconds and minutes, in Z and with an offset, and
    the instants one unit (of its own precision) before and after."""
    if not _INSTANT.match(text):
        return []
    try:
        when = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
    except ValueError:
        return []
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    when = when.astimezone(UTC)
    match = _INSTANT.match(text)
    assert match is not None
    if match.group(2):
        unit = timedelta(milliseconds=1)
    elif match.group(1):
        unit = timedelta(seconds=1)
    else:
        unit = timedelta(minutes=1)

    def z(t: datetime, spec: str) -> str:
        return t.isoformat(timespec=spec).replace("+00:00", "Z")

    spec = "milliseconds" if unit < timedelta(seconds=1) else "seconds"
    offset = timezone(timedelta(hours=2))
    out = [
        text,
        z(when, spec),
        z(when.replace(microsecond=0), "seconds"),
        z(when.replace(second=0, microsecond=0), "minutes"),
        when.astimezone(offset).isoformat(timespec=spec),
        z(when - unit, spec),
        z(when + unit, spec),
    ]
    return list(dict.fromkeys(out))


@dataclass
class ValueSource:
    """Real values per field name (lower snake case), each with where it came from
    (``db:<table>.<column>``, ``traffic``, ...); ``masked`` origins come from a user's data
    (URL mode) and must not be shown in reports unless the config allows them."""

    values: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    masked: set[str] = field(default_factory=set)

    def add(self, name: str, values: Iterable[Any], origin: str, *, private: bool = False) -> None:
        """Feed values for a field name (the traffic replay's entry point too)."""
        slot = self.values.setdefault(_snake(name), {}).setdefault(origin, [])
        for value in values:
            if value is not None and value not in slot and len(slot) < PER_FIELD:
                slot.append(value)
        if private:
            self.masked.add(origin)

    def for_field(self, name: str) -> list[tuple[Any, str]]:
        """(value, origin) for a parameter or body field of this name, an id field
        (``caseId``, ``case_id``) also taking the ids of the table it names."""
        key = _snake(name)
        keys = [key]
        if key.endswith("_id") and key != "id":
            keys.append(key[:-3] + "s.id")
        out: list[tuple[Any, str]] = []
        for k in keys:
            for origin, values in self.values.get(k, {}).items():
                out += [(v, origin) for v in values]
        return out

    def all(self) -> list[tuple[Any, str]]:
        """Every (value, origin), for a parameter no column is named after."""
        return [(v, o) for by in self.values.values() for o, vals in by.items() for v in vals]

    def shown(self, value: Any, origin: str) -> str:
        """A value as a report may show it."""
        return "<from the data>" if origin in self.masked else repr(value)

    def learn_sqlite(self, path: Path, *, private: bool = False) -> None:
        """Whole values, words and prefixes of text columns, time variants of stored
        instants, the newest and oldest rows' ids; per column name and per ``table.id``."""
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [
                r[0]
                for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            for table in tables:
                cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
                for col in cols:
                    origin = f"db:{table}.{col}"
                    query = f'SELECT DISTINCT "{col}" FROM "{table}"'
                    try:  # insertion order: the oldest rows first
                        rows = con.execute(query + " ORDER BY rowid").fetchall()
                    except sqlite3.OperationalError:  # WITHOUT ROWID
                        rows = con.execute(query).fetchall()
                    vals = [r[0] for r in rows if r[0] is not None]
                    if not vals:
                        continue
                    # the newest and oldest rows, alternately (newest first)
                    ends = vals[-3:][::-1], vals[:3]
                    picked = list(
                        dict.fromkeys(v for pair in zip(*ends, strict=False) for v in pair)
                    )
                    self.add(col, picked, origin, private=private)
                    if col == "id":
                        self.add(f"{table}.id", picked, origin, private=private)
                    texts = [v for v in picked if isinstance(v, str)]
                    instants = [t for t in texts if _INSTANT.match(t)]
                    # each stored instant as stored first, then its cuts, offsets and neighbours
                    self.add(col, instants, origin + ":time", private=private)
                    for text in instants:
                        self.add(col, time_variants(text), origin + ":time", private=private)
                    for text in texts:
                        if text not in instants and " " in text.strip():
                            found = words_and_prefixes(text)
                            self.add(col, found, origin + ":words", private=private)
        finally:
            con.close()
