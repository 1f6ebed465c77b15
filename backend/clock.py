"""JavaScript-style timestamps: ``new Date().toISOString()``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from backend.jsbehaviour import iso_string_normalize, to_iso_string

iso = to_iso_string
"""``Date.prototype.toISOString()`` (``backend.jsbehaviour.to_iso_string``)."""
normalize_iso = iso_string_normalize
"""``new Date(text).toISOString()`` (``backend.jsbehaviour.iso_string_normalize``)."""


def now() -> datetime:
    return datetime.now(UTC)


def now_iso() -> str:
    return iso(now())


def days_from_now(days: float) -> str:
    return iso(now() + timedelta(days=days))


DAY_MS = 86_400_000
EPOCH = "1970-01-01T00:00:00.000Z"
_ISO = re.compile(r"^([+-]\d{6}|\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$")


def _days_from_civil(y: int, m: int, d: int) -> int:
    """Days since 1970-01-01 in the proleptic Gregorian calendar (any year, as JavaScript)."""
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (m <= 2), m, d


def parse_ms(text: str) -> int:
    """``Date.parse`` for a UTC ISO string (what the API stores and validates)."""
    match = _ISO.match(text)
    if match is None:
        raise ValueError(f"not an ISO timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction = match.groups()
    days = _days_from_civil(int(year), int(month), int(day))
    millis = int(((fraction or "") + "000")[:3])
    return ((days * 24 + int(hour)) * 60 + int(minute)) * 60_000 + int(second) * 1000 + millis


def ms_iso(ms: int) -> str:
    """``new Date(ms).toISOString()``, extended years (``-000001``, ``+010000``) included."""
    days, rem = divmod(ms, DAY_MS)
    y, m, d = _civil_from_days(days)
    year = f"{y:04d}" if 0 <= y <= 9999 else ("-" if y < 0 else "+") + f"{abs(y):06d}"
    hours, rem = divmod(rem, 3_600_000)
    minutes, rem = divmod(rem, 60_000)
    seconds, millis = divmod(rem, 1000)
    return f"{year}-{m:02d}-{d:02d}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


def shift_days(text: str, days: int) -> str:
    """``new Date(Date.parse(text) + days * DAY).toISOString()``."""
    return ms_iso(parse_ms(text) + days * DAY_MS)
