"""CSV file parts: variants for generation, row drops for shrinking, and their encoding."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from harness.cases.files import (
    combined,
    combined_variants,
    csv_variants,
    filename_for,
    grown,
    is_csv,
    text_reductions,
)
from harness.cases.generation import contract_examples, generate_cases
from harness.compare.findings import reductions as _reductions
from harness.setup.contract import load_contract

ROOT = Path(__file__).resolve().parents[2]

CSV = (
    "title,channel,category,customerName\n"
    'One,email,billing,"Lovelace, Ada"\n'
    "Two,chat,shipping,Grace\n"
    "Three,web,account,Alan\n"
)


def _rows(text: str) -> list[list[str]]:
    return [r for r in csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")) if r]


def test_variants_spoil_one_cell_among_good_rows() -> None:
    variants = csv_variants(CSV)
    assert variants[0] == CSV
    original = _rows(CSV)
    spoiled = [v for v in variants[1:] if len(_rows(v)) == len(original) and v.count("\r") == 0]
    spoiled = [v for v in spoiled if not v.startswith("\ufeff")]
    spoiled = [
        v
        for v in spoiled
        if _rows(v)[0] == original[0]
        and sum(1 for row in _rows(v)[1:] for cell in row if not cell) == 1
    ]
    assert len(spoiled) == 4  # one per column
    positions = set()
    for text in spoiled:
        rows = _rows(text)
        assert rows[0] == original[0]
        blanks = [
            (r, c) for r, row in enumerate(rows[1:]) for c, cell in enumerate(row) if not cell
        ]
        assert len(blanks) == 1, text
        row, _ = blanks[0]
        assert row < len(original) - 2, "a good row must follow the spoiled one"
        positions.add(row)
    assert positions == {0, 1}
    # quoting survives the rewrite
    assert any('"Lovelace, Ada"' in v for v in spoiled[1:])


def test_variants_reach_the_edges_of_a_csv_import() -> None:
    variants = csv_variants(CSV)
    header = _rows(CSV)[0]
    sizes = sorted(len(_rows(v)) for v in variants)
    assert sizes[-1] > 1000  # a large file of good rows
    many_bad = [v for v in variants if sum(1 for r in _rows(v)[1:] if not r[0]) >= 100]
    assert many_bad, "more bad rows than any error-list cap"
    assert any("\n\n" in v for v in variants)  # blank lines
    assert any(not v.endswith("\n") for v in variants)  # no final newline
    assert any(_rows(v)[0] == [*header, "extra"] for v in variants)
    assert any(_rows(v)[0] == header[:-1] for v in variants)
    assert any('""' in v and "line break" in v for v in variants)  # quotes and a line break
    assert any("日本語" in v for v in variants)


def test_variants_line_ends_bom_and_header_only() -> None:
    variants = csv_variants(CSV)
    assert CSV.replace("\n", "\r\n") in variants
    assert "\ufeff" + CSV in variants
    assert "title,channel,category,customerName\n" in variants
    assert len(variants) == len(set(variants))
    assert csv_variants("") == [""]


def test_reductions_keep_the_header_and_drop_rows() -> None:
    smaller = list(text_reductions("\ufeff" + CSV, "text/csv", None))
    assert smaller[0] == "\ufefftitle,channel,category,customerName\n"
    for text in smaller:
        assert text.startswith("\ufeff")
        assert _rows(text)[0] == _rows(CSV)[0]
        assert len(_rows(text)) < len(_rows(CSV))
    one_dropped = [t for t in smaller if len(_rows(t)) == len(_rows(CSV)) - 1]
    assert len(one_dropped) == 3
    assert list(text_reductions("abcd", "text/plain", "notes.txt")) == ["ab"]
    header_only = "title,channel,category,customerName\n"
    assert list(text_reductions(header_only, None, "x.CSV")) == []


def test_media_types() -> None:
    assert is_csv("text/csv; charset=utf-8")
    assert is_csv(None, "cases.CSV")
    assert not is_csv("text/plain", "notes.txt")
    assert filename_for("file", "text/csv") == "file.csv"
    assert filename_for("doc", "application/json") == "doc.json"


def test_contract_csv_example_becomes_uploads_and_shrinks_by_rows() -> None:
    contract = load_contract(ROOT / "contracts" / "openapi.yaml")
    op = contract.get("POST /api/upload")
    examples = contract_examples(op)
    assert len(examples) >= 8
    (name, (filename, data, ctype)) = examples[0][2][0]  # type: ignore[index]
    assert (name, filename, ctype) == ("file", "file.csv", "text/csv")
    assert data.decode().startswith("title,channel,category,customerName")

    reqs = generate_cases(
        op,
        run_seed=1,
        positive=2,
        negative=0,
        roles=["admin", "agent"],
        strip_headers=[],
        strip_cookies=True,
    )
    first = reqs[0]
    assert first.shrinkable
    part = first.body["multipart"][0]
    assert part["text"] == data.decode()
    assert first.content is not None
    assert data in first.content
    boundary = dict(first.headers)["content-type"].split("boundary=")[1]
    assert first.content.startswith(f"--{boundary}".encode())

    smaller = list(_reductions(first))
    assert smaller, "a CSV upload must shrink"
    for req in smaller:
        text = req.body["multipart"][0]["text"]
        assert _rows(text)[0] == _rows(part["text"])[0]
        assert len(_rows(text)) < len(_rows(part["text"]))
        assert req.content is not None
        assert text.encode() in req.content
        assert req.role == first.role
        assert req.path == first.path


def test_curl_body_word_is_byte_exact_in_bash() -> None:
    """The report's curl line must send the very bytes parity sent (CR LF, BOM, bad UTF-8)."""
    import shutil
    import subprocess

    import pytest

    from harness.pair.transport import shell_bytes

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    samples = [
        b"plain text, no specials",
        b'it\'s "quoted" \\ back\nslash',
        b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n\xef\xbb\xbftitle\r\n--b--\r\n',
        b"tab\there \x01\x7f and bad utf-8 \xff\xfe, and \xe2\x80\xa8",
    ]
    for data in samples:
        word = shell_bytes(data)
        out = subprocess.run(
            [bash, "-c", f"printf %s {word}"], capture_output=True, check=True, timeout=10
        ).stdout
        assert out == data, (word, out)


def test_a_grown_csv_passes_the_size_with_rows_every_import_rejects() -> None:
    """For a 413: the body past a size, made of rows that import nothing below the limit."""
    big = grown(CSV, 100_000, "text/csv", "file.csv")
    assert len(big.encode()) >= 100_000
    rows = _rows(big)
    assert rows[0] == _rows(CSV)[0]
    assert all(r[0] == "" and r[1:] == _rows(CSV)[1][1:] for r in rows[1:])
    assert len(grown("plain", 1000, "text/plain", "a.txt")) == 1000


def test_one_variant_combines_the_corners_each_between_rejected_rows() -> None:
    """Record numbers, physical lines and the reader's line count part only where a corner
    (quoted line break, blank line) is followed by a rejected row: the combined file has
    that for each corner, with a BOM, CRLF and no final newline on top."""
    combined = [v for v in csv_variants(CSV) if v.startswith("\ufeff") and "\r\n\r\n" in v]
    assert len(combined) == 1
    text = combined[0]
    assert not text.endswith("\n")
    rows = _rows(text)
    assert rows[0] == _rows(CSV)[0]
    rejected = [i for i, row in enumerate(rows) if not row[0]]
    corners = [i for i, row in enumerate(rows) if "\n" in row[0] or "日本語" in row[0]]
    assert len(corners) == 2
    for corner in corners:
        assert corner - 1 in rejected, (corner, rejected)
        assert corner + 1 in rejected, (corner, rejected)
    # a rejected row after the line break sits on a physical line past its record number
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    lines = [reader.line_num for row in reader if row]
    assert any(line != number for number, line in enumerate(lines, start=1))


def test_combined_files_cross_corner_orders_with_file_styles_within_the_budget() -> None:
    """``combined_files`` files: each of the 6 corner orders with each style (BOM, line end,
    final newline, many rejected rows, an extra header column), every corner still between
    two rejected rows; 0 turns them off, and the budget stops at the 12 distinct ones."""
    header, *data = _rows(CSV)
    files = combined_variants(header, data, 40)
    assert len(files) == len(set(files)) == 12
    assert files[0] == combined(header, data)
    orders = set()
    for text in files:
        rows = _rows(text)
        assert rows[0][:4] == header
        rejected = {i for i, row in enumerate(rows) if not row[0]}
        corners = [i for i, row in enumerate(rows) if "\n" in row[0] or "日本語" in row[0]]
        assert len(corners) == 2
        assert all(c - 1 in rejected and c + 1 in rejected for c in corners), text
        blank = text.lstrip("\ufeff").replace("\r\n", "\n").index("\n\n")
        before = text.lstrip("\ufeff").replace("\r\n", "\n")[:blank]
        orders.add(("break" in before, "日本語" in before))
        assert all(len(row) == len(rows[0]) for row in rows)  # an extra column in every record
    assert len(orders) == 4  # the blank line before both, either or neither other corner
    assert {t.startswith("\ufeff") for t in files} == {True, False}
    assert {"\r\n" in t for t in files} == {True, False}
    assert {t.endswith("\n") for t in files} == {True, False}
    assert {len(_rows(t)) > 100 for t in files} == {True, False}  # many rejected rows
    assert {_rows(t)[0][-1] == "extra" for t in files} == {True, False}

    budget = {n: csv_variants(CSV, combined_files=n) for n in (0, 1, 3)}
    assert len(budget[1]) == len(budget[0]) + 1
    assert len(budget[3]) == len(budget[0]) + 3
    assert budget[3][: len(budget[0])] == budget[0]
    assert not any(v in budget[0] for v in files[:3])


def test_the_profile_budget_reaches_the_uploads_of_a_contract_example() -> None:
    contract = load_contract(ROOT / "contracts" / "openapi.yaml")
    op = contract.get("POST /api/upload")
    counts = {n: len(contract_examples(op, n)) for n in (0, 2, 12)}
    assert counts[2] == counts[0] + 2
    assert counts[12] == counts[0] + 12
    reqs = {
        n: generate_cases(
            op,
            run_seed=1,
            positive=0,
            negative=0,
            roles=["admin"],
            strip_headers=[],
            strip_cookies=True,
            combined_files=n,
        )
        for n in (0, 2)
    }
    assert len(reqs[2]) == len(reqs[0]) + 2
