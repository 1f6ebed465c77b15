import { z } from "zod";
import { authenticate } from "@/lib/auth";
import { getDb, getSqlite } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { searchAnalytics } from "@/lib/schema";
import { ftsQuery, rank, scopeFor, sourcesFor, type SearchHit } from "@/lib/search";
import { nowIso } from "@/lib/time";
import { businessUnit, SCOPES } from "@/lib/validation";

const SearchQuery = z.object({
  q: z.string().min(1).max(200),
  scope: z.enum(SCOPES).default("all"),
  businessUnit: businessUnit.optional(),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(SearchQuery, request);
  const match = ftsQuery(query.q);
  let hits: SearchHit[] = [];
  if (match) {
    const params = { match, scope: scopeFor(user), unit: query.businessUnit ?? null, now: nowIso() };
    const sqlite = getSqlite();
    for (const source of sourcesFor(query.scope)) {
      const rows = sqlite.prepare(source.sql).all(params) as Omit<SearchHit, "type">[];
      hits.push(...rows.map((row) => ({ type: source.type, ...row })));
    }
    hits = rank(hits);
  }
  const filters = query.businessUnit ? { businessUnit: query.businessUnit } : {};
  getDb()
    .insert(searchAnalytics)
    .values({
      query: query.q,
      scope: query.scope,
      resultCount: hits.length,
      userId: user.id,
      filters: JSON.stringify(filters),
    })
    .run();
  return Response.json({
    query: query.q,
    scope: query.scope,
    total: hits.length,
    results: hits.slice(0, query.limit),
  });
});
