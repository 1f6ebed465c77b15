"""CSV of cases: validated row by row with the POST /api/cases rules; good rows are kept."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from backend.db import NUL, NUL_MESSAGE
from backend.models import AuthUser
from backend.schemas import CASE_CREATE
from backend.validation import ValidationFailed

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
REQUIRED = ("title", "channel", "category", "customerName")
OPTIONAL = ("description", "status", "priority", "businessUnit")
MAX_ERRORS = 100


@dataclass
class ParsedImport:
    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    failure: str | None = None

    def error(self, row: int, field_name: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "field": field_name, "message": message})


def _records(text: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    # csv-parse's skip_empty_lines drops lines with no characters at all
    return [record for record in reader if record and record != [""]]


def parse_cases_csv(text: str, user: AuthUser, *, nul_ok: bool = True) -> ParsedImport:
    """``nul_ok=False`` where the database cannot store NUL (PostgreSQL): a row with a NUL in a
    field is rejected with a row error, as an invalid row is, instead of failing the file."""
    result = ParsedImport()
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        records = _records(text)
    except csv.Error as exc:
        result.failure = f"CSV could not be parsed: {exc}"
        return result
    if not records:
        result.failure = "File is empty"
        return result
    header = [name.strip() for name in records[0]]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        result.failure = f"Missing required columns: {', '.join(missing)}"
        return result
    if len(records) == 1:
        result.failure = "File has no data rows"
        return result
    known = set(REQUIRED) | set(OPTIONAL)
    for index, record in enumerate(records[1:]):
        line = index + 2
        values: dict[str, str] = {}
        for column, name in enumerate(header):
            cell = record[column] if column < len(record) else None
            if name in known and cell is not None and cell != "":
                values[name] = cell
        try:
            parsed = CASE_CREATE.parse(values)
        except ValidationFailed as failed:
            result.rejected += 1
            for issue in failed.issues:
                result.error(line, issue["path"], issue["message"])
            continue
        if not nul_ok:
            bad = [k for k, v in parsed.items() if isinstance(v, str) and NUL in v]
            if bad:
                result.rejected += 1
                for name in bad:
                    result.error(line, name, NUL_MESSAGE)
                continue
        unit = parsed.get("businessUnit") or user.business_unit
        if user.role != "admin" and unit != user.business_unit:
            result.rejected += 1
            result.error(line, "businessUnit", "Business unit not allowed")
            continue
        parsed["businessUnit"] = unit
        result.rows.append(parsed)
    return result
