"""File parts of multipart requests: CSV variants for generation, row drops for shrinking.

Random bytes almost never make a CSV that an import endpoint accepts, so row-level drift (an
import that stops at the first bad row, a row counted twice, a default applied only to some
rows) stays out of reach of schema-driven generation. The contract's own example files are
real data, though. From each example CSV the generator derives variants that keep the header
and the good rows and spoil one cell at a time, so a rejected row sits among accepted ones;
the shrinker drops data rows one at a time, so a finding's example is the fewest rows that
still show it.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import mimetypes
from collections.abc import Iterator

__all__ = [
    "MAX_TEXT",
    "combined_variants",
    "csv_variants",
    "filename_for",
    "grown",
    "is_csv",
    "text_reductions",
]

MAX_TEXT = 64 * 1024
"""File parts up to this size keep their text in the request record (reports, shrinking)."""


def is_csv(content_type: str | None, filename: str | None = None) -> bool:
    media = (content_type or "").split(";")[0].strip().lower()
    return media in ("text/csv", "application/csv") or (filename or "").lower().endswith(".csv")


def filename_for(name: str, content_type: str | None) -> str:
    """A file name for a contract example part: the part name plus the media type's suffix."""
    media = (content_type or "").split(";")[0].strip().lower()
    suffix = ".csv" if is_csv(media) else (mimetypes.guess_extension(media) or ".bin")
    return f"{name}{suffix}"


def _rows(text: str) -> tuple[list[list[str]], str] | None:
    body = text[1:] if text.startswith("\ufeff") else text
    newline = "\r\n" if "\r\n" in body else "\n"
    try:
        rows = [r for r in csv.reader(io.StringIO(body, newline="")) if r]
    except csv.Error:
        return None
    return (rows, newline) if rows else None


def _write(rows: list[list[str]], newline: str) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue()


def csv_variants(text: str, combined_files: int = 1) -> list[str]:
    """``text`` first, then variants that exercise per-row handling of a CSV import.

    - for each column in turn, that cell blanked in one data row (never the last one when
      there are several, so good rows follow the spoiled one); the rows cycle with the
      columns, so every row position is spoiled by some variant;
    - the same file with CRLF line ends (or LF when it had CRLF), and with a UTF-8 BOM;
    - the header alone (no data rows);
    - the edges of an import (``_edge_variants``), and ``combined_files`` files putting
      them together (0: none).
    Duplicates are dropped; order is stable, so generation stays reproducible.
    """
    out = [text]
    parsed = _rows(text)
    if parsed is not None:
        rows, newline = parsed
        header, data = rows[0], rows[1:]
        if data:
            spoilable = max(len(data) - 1, 1)
            for column in range(len(header)):
                row = column % spoilable
                if column >= len(data[row]) or not data[row][column]:
                    continue
                spoiled = [list(r) for r in data]
                spoiled[row][column] = ""
                out.append(_write([header, *spoiled], newline))
        other = "\n" if newline == "\r\n" else "\r\n"
        out.append(_write(rows, other))
        out.append("\ufeff" + _write(rows, newline))
        out.append(_write([header], newline))
        if data:
            out.extend(_edge_variants(header, data, newline, combined_files))
    seen: set[str] = set()
    return [v for v in out if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


MANY_BAD_ROWS = 120
"""More spoiled rows than any cap an import applies to its list of row errors."""
LARGE_ROWS = 2000


def _edge_variants(
    header: list[str], data: list[list[str]], newline: str, combined_files: int = 1
) -> list[str]:
    """RFC 4180 corners and sizes near an import's limits, each from the example's rows:

    many bad rows among good ones; a text cell with a comma, quotes and a line break; blank
    lines between rows; no final newline; a header with an extra column and one with a
    column missing; non-ASCII text; a large file of repeated good rows."""
    out: list[str] = []
    text_col = next((i for i, v in enumerate(data[0]) if v and not v.replace(".", "").isdigit()), 0)

    def with_cell(value: str) -> list[list[str]]:
        rows = [list(r) for r in data]
        if text_col < len(rows[0]):
            rows[0][text_col] = value
        return rows

    bad = [list(r) for r in data[:1]] * MANY_BAD_ROWS
    bad = [[("" if i == 0 else v) for i, v in enumerate(r)] for r in bad]
    out.append(_write([header, *bad, *data], newline))
    out.append(_write([header, *with_cell('quoted, "comma"\nand a line break')], newline))
    out.append(
        newline.join(
            [_write([header], newline).rstrip("\r\n"), ""]
            + [_write([r], newline).rstrip("\r\n") + newline for r in data]
        )
    )
    out.append(_write([header, *data], newline).rstrip("\r\n"))
    out.append(_write([[*header, "extra"], *[[*r, "x"] for r in data]], newline))
    if len(header) > 1:
        out.append(_write([header[:-1], *[r[:-1] for r in data]], newline))
    out.append(_write([header, *with_cell("Zoë Ünïcødé — 日本語 ✓")], newline))
    large = (data * (LARGE_ROWS // len(data) + 1))[:LARGE_ROWS]
    out.append(_write([header, *large], newline))
    out.extend(combined_variants(header, data, combined_files))
    return out


COMBINED_STYLES: tuple[tuple[str, bool, bool, bool, bool], ...] = (
    # (line end, BOM, final newline, many rejected rows at the end, an extra header column)
    ("\r\n", True, False, False, False),
    ("\n", True, True, True, False),
    ("\r\n", False, True, False, True),
    ("\n", False, False, True, True),
)
_CORNERS = ("break", "blank", "unicode")
COMBINED_MAX = math.lcm(len(COMBINED_STYLES), 6)  # each style with each corner order once


def combined(header: list[str], data: list[list[str]], variant: int = 0) -> str:
    """The corners above in one file, each between two rejected rows: a quoted cell with a
    comma, quotes and a line break, a blank line and non-ASCII text, in the order
    ``variant`` picks (each of the 6 orders in turn), in one of ``COMBINED_STYLES`` (BOM or
    none, CRLF or LF, a final newline or none, many rejected rows after the corners, an extra
    header column). An import's error report numbers rows, lines or records; each corner
    shifts one count and not the others only when a rejected row follows it, which none of
    the single-corner variants has. Variant 0: BOM, CRLF, no final newline."""
    text_col = next((i for i, v in enumerate(data[0]) if v and not v.replace(".", "").isdigit()), 0)
    newline, bom, final, many, extra = COMBINED_STYLES[variant % len(COMBINED_STYLES)]
    order = list(itertools.permutations(_CORNERS))[variant % 6]

    def good(value: str | None = None) -> list[str]:
        row = list(data[0])
        if value is not None and text_col < len(row):
            row[text_col] = value
        return row

    def rows(*records: list[str]) -> str:  # with the extra header's cell in every record
        return _write([[*r, "x"] if extra else r for r in records], newline)

    bad = [("" if i == 0 else v) for i, v in enumerate(data[0])]  # what grown() rejects too
    corner = {
        "break": rows(good('quoted, "comma"\nand a line break')),
        "blank": newline,  # a blank line between records
        "unicode": rows(good("Zoë Ünïcødé — 日本語 ✓")),
    }
    parts = [_write([[*header, "extra"] if extra else header], newline)]
    for name in order:
        parts += [rows(bad), corner[name]]
    parts.append(rows(bad, *data[1:2]))
    if many:
        parts.append(rows(*[bad] * MANY_BAD_ROWS))
    parts.append(rows(bad))
    text = "".join(parts)
    if not final:
        text = text[: -len(newline)]
    return ("\ufeff" if bom else "") + text


def combined_variants(header: list[str], data: list[list[str]], count: int) -> list[str]:
    """``count`` combined files (``combined``'s variants 0 .. count - 1, at most
    ``COMBINED_MAX``: after that they repeat)."""
    return [combined(header, data, k) for k in range(min(count, COMBINED_MAX))]


def grown(text: str, size: int, content_type: str | None, filename: str | None) -> str:
    """``text`` grown to at least ``size`` bytes: a CSV keeps its header and repeats its
    first data row with the first cell blank (a row every import rejects, so a file under
    the limit writes no rows); other text is repeated."""
    if is_csv(content_type, filename):
        parsed = _rows(text)
        if parsed is not None and len(parsed[0]) > 1:
            (header, first, *_), newline = parsed
            line = _write([["", *first[1:]]], newline)
            head = _write([header], newline)
            count = max(1, (size - len(head.encode()) + len(line) - 1) // max(len(line), 1))
            return head + line * count
    unit = text or "a"
    return (unit * (size // max(len(unit.encode()), 1) + 1))[: max(size, 1)]


def text_reductions(text: str, content_type: str | None, filename: str | None) -> Iterator[str]:
    """Smaller versions of a text file part, most aggressive first.

    A CSV keeps its header and loses data rows (all of them, then the second half, then one
    at a time); other text is halved.
    """
    if is_csv(content_type, filename):
        parsed = _rows(text)
        if parsed is None:
            return
        rows, newline = parsed
        bom = "\ufeff" if text.startswith("\ufeff") else ""
        header, data = rows[0], rows[1:]
        if not data:
            return
        candidates: list[list[list[str]]] = [[]]
        if len(data) > 2:
            candidates.append(data[: len(data) // 2])
        if len(data) > 1:
            candidates.extend(data[:i] + data[i + 1 :] for i in range(len(data)))
        for kept in candidates:
            yield bom + _write([header, *kept], newline)
    elif len(text) > 1:
        yield text[: len(text) // 2]
