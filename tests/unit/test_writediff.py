"""The report's write diff: only the rows and columns that differ, the reported ones flagged."""

from __future__ import annotations

from harness.reporting.html import render_html
from harness.reporting.writediff import write_diff

WRITES = {
    "legacy": {
        "items": {
            "inserted": [
                {"rowid": 4, "name": "a", "price": 10, "createdAt": "2026-01-01T00:00:00.000Z"},
                {"rowid": 5, "name": "b", "price": 3, "createdAt": "2026-01-01T00:00:00.000Z"},
            ],
            "updated": [
                {
                    "rowid": 2,
                    "changed": ["name", "updatedAt"],
                    "before": {"name": "x", "updatedAt": "t0"},
                    "after": {"name": "y", "updatedAt": "t1"},
                }
            ],
            "deleted": [],
        }
    },
    "candidate": {
        "items": {
            "inserted": [
                {"rowid": 4, "name": "a", "price": 11, "createdAt": "2026-01-01T00:00:00.120Z"}
            ],
            "updated": [
                {
                    "rowid": 2,
                    "changed": ["name"],
                    "before": {"name": "x", "updatedAt": "t0"},
                    "after": {"name": "y", "updatedAt": "t0"},
                }
            ],
            "deleted": [{"rowid": 9, "name": "z"}],
        }
    },
}
PATHS = ["items[+0].price", "items", "items[rowid=2].updatedAt"]


def test_only_differing_rows_and_columns_are_listed() -> None:
    rows = {(r.kind, r.label): r for r in write_diff(WRITES, PATHS)}
    assert set(rows) == {
        ("inserted", "+0"),
        ("inserted", "+1"),
        ("updated", "rowid=2"),
        ("deleted", "rowid=9"),
    }
    first = {c.column: c for c in rows[("inserted", "+0")].cells}
    # name agrees: not listed; price reported: flagged; createdAt differs but was tolerated
    assert set(first) == {"price", "createdAt"}
    assert first["price"].flagged
    assert (first["price"].legacy, first["price"].candidate) == (
        "10",
        "11",
    )
    assert not first["createdAt"].flagged
    assert rows[("inserted", "+1")].only == "legacy"
    assert rows[("deleted", "rowid=9")].only == "candidate"
    update = {c.column: c for c in rows[("updated", "rowid=2")].cells}
    assert set(update) == {"updatedAt"}
    assert update["updatedAt"].flagged


def test_identical_writes_list_nothing() -> None:
    same = {"legacy": WRITES["legacy"], "candidate": WRITES["legacy"]}
    assert write_diff(same, []) == []


def test_report_shows_the_flagged_cell_and_folds_the_full_rows() -> None:
    finding = {
        "id": "f-1",
        "operation": "POST /items",
        "location": "db:items.price",
        "kind": "db_insert",
        "summary": "items[+0].price: 10 vs 11",
        "count": 1,
        "phase": "stateless",
        "example": {
            "steps": [],
            "diff": [{"path": "items[+0].price", "legacy": 10, "candidate": 11}],
            "db_writes": WRITES,
        },
    }
    html = render_html(
        {"schema_version": 2, "verdict": "drift", "findings": [finding], "operations": []}
    )
    row = html[html.index('class="diff writediff"') :]
    row = row[: row.index("</table>")]
    assert '<tr class="hl"><td>items inserted +0</td><td>price</td><td>10</td><td>11' in row
    assert "(allowed by the rules)" in row  # createdAt: shown, not flagged
    assert "<summary>full rows written</summary>" in html
