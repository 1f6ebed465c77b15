import { eq, inArray } from "drizzle-orm";
import { authenticate, canSee } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { notFound, route } from "@/lib/http";
import { cases, trendingTopics } from "@/lib/schema";
import { caseJson, trendingJson } from "@/lib/serialize";

type Ctx = { params: Promise<{ topic: string }> };

/** One topic with its sample cases (those the caller may see, in sample order). */
export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const { topic } = await params;
  const db = getDb();
  const row = db.select().from(trendingTopics).where(eq(trendingTopics.topic, topic)).get();
  if (!row) throw notFound("Topic");
  const json = trendingJson(row);
  const found = json.sampleCaseIds.length
    ? db.select().from(cases).where(inArray(cases.id, json.sampleCaseIds)).all()
    : [];
  const byId = new Map(found.map((c) => [c.id, c]));
  const samples = json.sampleCaseIds
    .map((id) => byId.get(id))
    .filter((c): c is NonNullable<typeof c> => c !== undefined && canSee(user, c.businessUnit))
    .map(caseJson);
  return Response.json({ ...json, samples });
});
