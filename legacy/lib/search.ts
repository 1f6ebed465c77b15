import type { User } from "./schema";

export type ResultType = "case" | "alert" | "feed";

export interface SearchHit {
  type: ResultType;
  id: number;
  title: string;
  snippet: string;
  score: number;
}

/** Letters and digits only, each token quoted: user input never reaches FTS5 syntax. */
export function ftsQuery(q: string): string | null {
  const tokens = q.toLowerCase().match(/[\p{L}\p{N}]+/gu);
  if (!tokens) return null;
  return tokens.map((token) => `"${token}"`).join(" ");
}

interface Source {
  type: ResultType;
  sql: string;
}

const SOURCES: Record<Exclude<"all", never> | string, Source> = {
  cases: {
    type: "case",
    sql: `SELECT c.id AS id, c.title AS title,
            snippet(cases_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
            bm25(cases_fts) AS score
          FROM cases_fts JOIN cases c ON c.id = cases_fts.rowid
          WHERE cases_fts MATCH @match AND (@scope IS NULL OR c.business_unit = @scope)
            AND (@unit IS NULL OR c.business_unit = @unit)`,
  },
  alerts: {
    type: "alert",
    sql: `SELECT a.id AS id, a.title AS title,
            snippet(alerts_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
            bm25(alerts_fts) AS score
          FROM alerts_fts JOIN alerts a ON a.id = alerts_fts.rowid
          WHERE alerts_fts MATCH @match AND (@scope IS NULL OR a.business_unit = @scope)
            AND (@unit IS NULL OR a.business_unit = @unit)`,
  },
  feed: {
    type: "feed",
    sql: `SELECT f.id AS id, f.title AS title,
            snippet(feed_fts, 1, '<mark>', '</mark>', '…', 12) AS snippet,
            bm25(feed_fts) AS score
          FROM feed_fts JOIN feed_items f ON f.id = feed_fts.rowid
          WHERE feed_fts MATCH @match
            AND (f.expires_at IS NULL OR f.expires_at > @now)
            AND (@scope IS NULL OR f.business_unit IS NULL OR f.business_unit = @scope)
            AND (@unit IS NULL OR f.business_unit = @unit)`,
  },
};

const TYPE_ORDER: Record<ResultType, number> = { case: 0, alert: 1, feed: 2 };

export function scopeFor(user: User): string | null {
  return user.role === "admin" ? null : user.businessUnit;
}

export function sourcesFor(scope: string): Source[] {
  return scope === "all" ? [SOURCES.cases, SOURCES.alerts, SOURCES.feed] : [SOURCES[scope]];
}

export function rank(hits: SearchHit[]): SearchHit[] {
  return hits.sort(
    (a, b) => a.score - b.score || TYPE_ORDER[a.type] - TYPE_ORDER[b.type] || a.id - b.id,
  );
}
