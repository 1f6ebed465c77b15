"""The ORM maps exactly the schema the legacy's migrations create: drift fails here."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Table

from backend.models import Base
from tests.servers import apply_migrations

# a database seeded by the legacy (npx tsx)
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("schema") / "migrated.db"
    apply_migrations(path)
    return sqlite3.connect(path)


def _default_sql(column: object) -> str | None:
    default = getattr(column, "server_default", None)
    if default is None:
        return None
    text = str(default.arg.text if hasattr(default.arg, "text") else default.arg)
    return _unwrap(text)


def _unwrap(text: str | None) -> str | None:
    if text and text.startswith("(") and text.endswith(")"):
        return text[1:-1]
    return text


TABLES = sorted(Base.metadata.tables.values(), key=lambda t: t.name)


def test_every_table_is_mapped(migrated: sqlite3.Connection) -> None:
    names = {
        r[0]
        for r in migrated.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE '%_fts%' AND name NOT LIKE '__drizzle%'"
        )
    }
    assert names == {t.name for t in TABLES}


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_columns_match(migrated: sqlite3.Connection, table: Table) -> None:
    rows = migrated.execute(f"PRAGMA table_info({table.name})").fetchall()
    actual = {r[1]: (r[2].upper(), bool(r[3]), _unwrap(r[4]), bool(r[5])) for r in rows}
    expected = {}
    for column in table.columns:
        type_name = str(column.type.compile()).upper()
        if type_name == "FLOAT":
            type_name = "REAL"
        expected[column.name] = (
            type_name,
            not column.nullable or column.primary_key,
            _default_sql(column),
            column.primary_key,
        )
    assert actual == expected


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_foreign_keys_match(migrated: sqlite3.Connection, table: Table) -> None:
    rows = migrated.execute(f"PRAGMA foreign_key_list({table.name})").fetchall()
    actual = {(r[3], r[2], r[4], r[6].upper()) for r in rows}
    expected = {
        (
            fk.parent.name,
            fk.column.table.name,
            fk.column.name,
            (fk.ondelete or "NO ACTION").upper(),
        )
        for fk in table.foreign_keys
    }
    assert actual == expected


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_indexes_match(migrated: sqlite3.Connection, table: Table) -> None:
    actual = {}
    for row in migrated.execute(f"PRAGMA index_list({table.name})").fetchall():
        if row[3] != "c":  # skip automatic indexes (primary keys)
            continue
        columns = tuple(r[2] for r in migrated.execute(f"PRAGMA index_info({row[1]})"))
        actual[row[1]] = (columns, bool(row[2]))
    expected = {
        index.name: (tuple(c.name for c in index.columns), bool(index.unique))
        for index in table.indexes
    }
    assert actual == expected


def test_fts_triggers_exist(migrated: sqlite3.Connection) -> None:
    triggers = {
        r[0] for r in migrated.execute("SELECT name FROM sqlite_master WHERE type='trigger'")
    }
    for base in ("cases", "alerts", "feed"):
        assert {f"{base}_fts_ai", f"{base}_fts_ad", f"{base}_fts_au"} <= triggers
