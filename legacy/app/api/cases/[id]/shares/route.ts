import { asc, eq } from "drizzle-orm";
import { authenticate } from "@/lib/auth";
import { findCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { parseId, route } from "@/lib/http";
import { shares } from "@/lib/schema";
import { shareJson } from "@/lib/serialize";

type Ctx = { params: Promise<{ id: string }> };

/** The case's escalations, oldest first. */
export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  const db = getDb();
  findCase(db, user, id);
  const rows = db.select().from(shares).where(eq(shares.caseId, id)).orderBy(asc(shares.id)).all();
  return Response.json({ data: rows.map(shareJson) });
});
