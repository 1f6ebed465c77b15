import { z } from "zod";
import { requireRole } from "@/lib/auth";
import { getSqlite } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";

const AnalyticsQuery = z.object({ days: z.coerce.number().int().min(1).max(365).default(7) });

export const GET = route(async (request: Request) => {
  requireRole(request, "admin");
  const { days } = parseQuery(AnalyticsQuery, request);
  const since = new Date(Date.now() - days * 24 * 60 * 60 * 1000).toISOString();
  const sqlite = getSqlite();
  const total = sqlite
    .prepare("SELECT count(*) AS n FROM search_analytics WHERE created_at >= ?")
    .get(since) as { n: number };
  const popular = sqlite
    .prepare(
      `SELECT query, count(*) AS count FROM search_analytics WHERE created_at >= ?
       GROUP BY query ORDER BY count DESC, query ASC LIMIT 10`,
    )
    .all(since);
  const zeroResults = sqlite
    .prepare(
      `SELECT query, count(*) AS count FROM search_analytics WHERE created_at >= ? AND result_count = 0
       GROUP BY query ORDER BY count DESC, query ASC LIMIT 10`,
    )
    .all(since);
  return Response.json({ days, totalSearches: total.n, popular, zeroResults });
});
