import { asc, desc } from "drizzle-orm";
import { z } from "zod";
import { requireRole } from "@/lib/auth";
import { resolveAsOf } from "@/lib/asof";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { parseWith, readJson, route } from "@/lib/http";
import { trendingTopics } from "@/lib/schema";
import { trendingJson } from "@/lib/serialize";
import { computeTopics, storeTopics } from "@/lib/trending";

const ComputeBody = z.object({
  asOf: z.iso.datetime().optional(),
  days: z.number().int().min(1).max(90).default(7),
});

/** Admin only: recomputes every topic (see lib/trending.ts for the formula). */
export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "admin");
  const body = parseWith(ComputeBody, await readJson(request));
  const db = getDb();
  const asOf = resolveAsOf(db, body.asOf);
  const topics = computeTopics(db, asOf, body.days);
  const rows = db.transaction((tx) => {
    storeTopics(tx, topics, asOf);
    recordEvent(tx, "trending.computed", "trending", null, user.id, { asOf, days: body.days, topics: topics.length }, null);
    return tx.select().from(trendingTopics).orderBy(desc(trendingTopics.score), asc(trendingTopics.topic)).all();
  });
  return Response.json({ asOf, days: body.days, data: rows.map(trendingJson) });
});
