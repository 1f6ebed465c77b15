from __future__ import annotations

import sqlite3
import unicodedata
from contextlib import closing
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from backend.clock import iso, now, now_iso
from backend.db import NUL, holds_nul, insert_row
from backend.deps import CallerDep, SessionDep
from backend.jsonout import JsonResponse, stringify
from backend.models import SearchAnalytic
from backend.routers._common import parse_query
from backend.schemas import SEARCH, SEARCH_ANALYTICS

router = APIRouter()

_SQL = {
    "cases": (
        "case",
        """SELECT c.id AS id, c.title AS title,
             snippet(cases_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
             bm25(cases_fts) AS score
           FROM cases_fts JOIN cases c ON c.id = cases_fts.rowid
           WHERE cases_fts MATCH :match AND (:scope IS NULL OR c.business_unit = :scope)
             AND (:unit IS NULL OR c.business_unit = :unit)""",
    ),
    "alerts": (
        "alert",
        """SELECT a.id AS id, a.title AS title,
             snippet(alerts_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
             bm25(alerts_fts) AS score
           FROM alerts_fts JOIN alerts a ON a.id = alerts_fts.rowid
           WHERE alerts_fts MATCH :match AND (:scope IS NULL OR a.business_unit = :scope)
             AND (:unit IS NULL OR a.business_unit = :unit)""",
    ),
    "feed": (
        "feed",
        """SELECT f.id AS id, f.title AS title,
             snippet(feed_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
             bm25(feed_fts) AS score
           FROM feed_fts JOIN feed_items f ON f.id = feed_fts.rowid
           WHERE feed_fts MATCH :match
             AND (f.expires_at IS NULL OR f.expires_at > :now)
             AND (:scope IS NULL OR f.business_unit IS NULL OR f.business_unit = :scope)
             AND (:unit IS NULL OR f.business_unit = :unit)""",
    ),
}
_TYPE_ORDER = {"case": 0, "alert": 1, "feed": 2}

# PostgreSQL has no FTS5, and its text search is not FTS5's: another tokenizer (no unicode61
# diacritic folding), ts_rank instead of bm25, ts_headline instead of snippet(). bm25 needs the
# corpus statistics of the whole table (row count, average length, rows per token) and
# snippet() picks its window by FTS5's own rules, so the port builds FTS5's index for the
# searched tables in an in-memory SQLite database (Python's sqlite3) from the rows PostgreSQL
# holds, with the legacy's own definitions, and runs the same queries on it: same matches,
# scores, order and snippets. It reads every searchable row per search (no persisted index):
# fine for this service's tables, to revisit (a maintained side index) if they grow large.
_PG_SOURCES = {
    "cases": (
        "cases",
        "id, title, description, category, customer_name, business_unit",
        "CREATE VIRTUAL TABLE cases_fts USING fts5(title, description, category,"
        " customer_name, content='cases', content_rowid='id', tokenize='unicode61')",
    ),
    "alerts": (
        "alerts",
        "id, title, message, business_unit",
        "CREATE VIRTUAL TABLE alerts_fts USING fts5(title, message, content='alerts',"
        " content_rowid='id', tokenize='unicode61')",
    ),
    "feed": (
        "feed_items",
        "id, title, body, business_unit, expires_at",
        "CREATE VIRTUAL TABLE feed_fts USING fts5(title, body, content='feed_items',"
        " content_rowid='id', tokenize='unicode61')",
    ),
}


def _pg_rows(session: Session, sources: list[str], params: dict[str, Any]) -> list[Any]:
    """The legacy's FTS5 queries, over an in-memory FTS5 index of PostgreSQL's rows."""
    rows: list[Any] = []
    with closing(sqlite3.connect(":memory:")) as index:
        for source in sources:
            table, columns, fts = _PG_SOURCES[source]
            found = session.execute(text(f"SELECT {columns} FROM {table}")).all()
            names = columns.split(", ")
            index.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, {', '.join(names[1:])})")
            marks = ", ".join("?" * len(names))
            index.executemany(f"INSERT INTO {table} VALUES ({marks})", found)
            index.execute(fts)
            fts_name = fts.split()[3]
            index.execute(f"INSERT INTO {fts_name}({fts_name}) VALUES ('rebuild')")
            kind, sql = _SQL[source]
            rows += [(kind, *r) for r in index.execute(sql, params).fetchall()]
    return rows


def _is_token_char(ch: str) -> bool:
    # JavaScript's /[\p{L}\p{N}]/u: general categories L* and N*
    return unicodedata.category(ch)[0] in "LN"


def fts_query(q: str) -> str | None:
    """Letters and digits only, each token quoted: input never reaches FTS5 syntax."""
    tokens: list[str] = []
    current: list[str] = []
    for ch in _js_lower(q):
        if _is_token_char(ch):
            current.append(ch)
        elif current:
            tokens.append("".join(current))
            current = []
    if current:
        tokens.append("".join(current))
    if not tokens:
        return None
    return " ".join(f'"{t}"' for t in tokens)


def _js_lower(text_: str) -> str:
    # String.prototype.toLowerCase differs from str.lower only for final sigma context and
    # U+0130; both map the same for the characters tokens keep.
    return text_.lower()


@router.get("/api/search")
async def search(request: Request, caller: CallerDep, session: SessionDep) -> JsonResponse:
    query = parse_query(request, SEARCH)
    match = fts_query(query["q"])
    hits: list[dict[str, Any]] = []
    if match:
        params = {
            "match": match,
            "scope": None if caller.is_admin else caller.user.business_unit,
            "unit": query.get("businessUnit"),
            "now": now_iso(),
        }
        scope = query["scope"]
        sources = ["cases", "alerts", "feed"] if scope == "all" else [scope]
        rows: list[Any] = []
        if session.get_bind().dialect.name == "postgresql":
            rows = _pg_rows(session, sources, params)
        else:
            # hot path: the driver's own prepared-statement cache, not SQLAlchemy's text() (8x)
            raw = session.connection().connection.driver_connection
            assert raw is not None
            for source in sources:
                kind, sql = _SQL[source]
                rows += [(kind, *r) for r in raw.execute(sql, params).fetchall()]
        for kind, row_id, title, snippet, score in rows:
            hits.append(
                {
                    "type": kind,
                    "id": row_id,
                    "title": title,
                    "snippet": snippet,
                    "score": float(score),
                }
            )
        hits.sort(key=lambda h: (h["score"], _TYPE_ORDER[h["type"]], h["id"]))
    filters = {"businessUnit": query["businessUnit"]} if query.get("businessUnit") else {}
    stored_q: str = query["q"]
    if not holds_nul(session):
        # PostgreSQL text cannot hold NUL: the search is served as the legacy serves it, and
        # its analytics row records the query with U+FFFD in place of each NUL.
        stored_q = stored_q.replace(NUL, "\ufffd")
    insert_row(
        session,
        SearchAnalytic,
        query=stored_q,
        scope=query["scope"],
        result_count=len(hits),
        user_id=caller.user.id,
        filters=stringify(filters),
    )
    session.commit()
    return JsonResponse(
        {
            "query": query["q"],
            "scope": query["scope"],
            "total": len(hits),
            "results": hits[: query["limit"]],
        },
        floats=True,
    )


@router.get("/api/search/analytics")
async def search_analytics(
    request: Request, caller: CallerDep, session: SessionDep
) -> JsonResponse:
    caller.require("admin")
    days: int = parse_query(request, SEARCH_ANALYTICS)["days"]
    since = iso(now() - timedelta(days=days))
    total = session.scalar(
        text("SELECT count(*) FROM search_analytics WHERE created_at >= :since"), {"since": since}
    )
    popular = session.execute(
        text(
            """SELECT query, count(*) AS count FROM search_analytics WHERE created_at >= :since
               GROUP BY query ORDER BY count DESC, query ASC LIMIT 10"""
        ),
        {"since": since},
    ).mappings()
    popular_list = [{"query": r["query"], "count": r["count"]} for r in popular]
    zero = session.execute(
        text(
            """SELECT query, count(*) AS count FROM search_analytics
               WHERE created_at >= :since AND result_count = 0
               GROUP BY query ORDER BY count DESC, query ASC LIMIT 10"""
        ),
        {"since": since},
    ).mappings()
    zero_list = [{"query": r["query"], "count": r["count"]} for r in zero]
    return JsonResponse(
        {
            "days": days,
            "totalSearches": total or 0,
            "popular": popular_list,
            "zeroResults": zero_list,
        }
    )
