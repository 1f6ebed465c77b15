import { asc, desc } from "drizzle-orm";
import { z } from "zod";
import { authenticate } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { trendingTopics } from "@/lib/schema";
import { trendingJson } from "@/lib/serialize";

const ListQuery = z.object({ limit: z.coerce.number().int().min(1).max(50).default(10) });

/** The topics of the last computation, highest score first. */
export const GET = route(async (request: Request) => {
  authenticate(request);
  const { limit } = parseQuery(ListQuery, request);
  const rows = getDb()
    .select()
    .from(trendingTopics)
    .orderBy(desc(trendingTopics.score), asc(trendingTopics.topic))
    .limit(limit)
    .all();
  return Response.json({ data: rows.map(trendingJson) });
});
