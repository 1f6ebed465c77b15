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
import mimetypes
from collections.abc import Iterator

__all__ = [
    "MAX_TEXT",
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


def csv_variants(text: str) -> list[str]:
    """``text`` first, then variants that exercise per-row handling of a CSV import.

    - for each column in turn, that cell blanked in one data row (never the last one when
      there are several, so good rows follow the spoiled one); the rows cycle with the
      columns, so every row position is spoiled by some variant;
    - the same file with CRLF line ends (or LF when it had CRLF), and with a UTF-8 BOM;
    - the header alone (no data rows).
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
            out.extend(_edge_variants(header, data, newline))
    seen: set[str] = set()
    return [v for v in out if not (v in seen or seen.add(v))]  # type: ignore[func-returns-value]


MANY_BAD_ROWS = 120
"""More spoiled rows than any cap an import applies to its list of row errors."""
LARGE_ROWS = 2000


def _edge_variants(header: list[str], data: list[list[str]], newline: str) -> list[str]:
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
    out.append(combined(header, data))
    return out


def combined(header: list[str], data: list[list[str]]) -> str:
    """The corners above in one file, each between two rejected rows: a BOM, CRLF line ends,
    a quoted cell with a comma, quotes and a line break, a blank line, non-ASCII text and no
    final newline. An import's error report numbers rows, lines or records; each corner
    shifts one count and not the others only when a rejected row follows it, which none of
    the single-corner variants has."""
    text_col = next((i for i, v in enumerate(data[0]) if v and not v.replace(".", "").isdigit()), 0)

    def good(value: str | None = None) -> list[str]:
        row = list(data[0])
        if value is not None and text_col < len(row):
            row[text_col] = value
        return row

    bad = [("" if i == 0 else v) for i, v in enumerate(data[0])]  # what grown() rejects too
    newline = "\r\n"
    lines = [
        _write([header], newline),
        _write([bad, good('quoted, "comma"\nand a line break'), bad], newline),
        newline,  # a blank line between records
        _write([bad, good("Zoë Ünïcødé — 日本語 ✓"), bad, *data[1:2]], newline),
        _write([bad], newline).rstrip("\r\n"),  # no final newline
    ]
    return "\ufeff" + "".join(lines)


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
