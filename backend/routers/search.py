from __future__ import annotations

import unicodedata
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import text

from backend.clock import iso, now, now_iso
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

# PostgreSQL has no FTS5: its text search over the same columns ('simple': lower-cased tokens,
# every token required, as the quoted FTS5 tokens are). Scores (ts_rank, negated so lower is
# better as bm25's) and snippets (ts_headline) are not bm25's: accepted differences of the
# engine move. unicode61 also folds diacritics ("cafe" finds "café"); 'simple' does not.
_HEADLINE = "'StartSel=<mark>, StopSel=</mark>, MaxWords=12, MinWords=1'"


def _pg_sql(table: str, alias: str, columns: str, snippet_col: str, extra: str) -> str:
    doc = f"to_tsvector('simple', concat_ws(' ', {columns}))"
    return f"""SELECT {alias}.id AS id, {alias}.title AS title,
             ts_headline('simple', {alias}.{snippet_col}, q, {_HEADLINE}) AS snippet,
             -ts_rank({doc}, q) AS score
           FROM {table} {alias}, plainto_tsquery('simple', :match) q
           WHERE {doc} @@ q {extra}
             AND (CAST(:unit AS text) IS NULL OR {alias}.business_unit = :unit)"""


_PG_SQL = {
    "cases": (
        "case",
        _pg_sql(
            "cases",
            "c",
            "c.title, c.description, c.category, c.customer_name",
            "description",
            "AND (CAST(:scope AS text) IS NULL OR c.business_unit = :scope)",
        ),
    ),
    "alerts": (
        "alert",
        _pg_sql(
            "alerts",
            "a",
            "a.title, a.message",
            "message",
            "AND (CAST(:scope AS text) IS NULL OR a.business_unit = :scope)",
        ),
    ),
    "feed": (
        "feed",
        _pg_sql(
            "feed_items",
            "f",
            "f.title, f.body",
            "body",
            "AND (f.expires_at IS NULL OR f.expires_at > :now)"
            " AND (CAST(:scope AS text) IS NULL OR f.business_unit IS NULL"
            " OR f.business_unit = :scope)",
        ),
    ),
}


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
            for source in sources:
                kind, sql = _PG_SQL[source]
                plain = {**params, "match": " ".join(t.strip('"') for t in match.split())}
                rows += [(kind, *r) for r in session.execute(text(sql), plain).all()]
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
    session.add(
        SearchAnalytic(
            query=query["q"],
            scope=query["scope"],
            result_count=len(hits),
            user_id=caller.user.id,
            filters=stringify(filters),
        )
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
