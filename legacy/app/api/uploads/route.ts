import { count, desc, eq } from "drizzle-orm";
import { z } from "zod";
import { authenticate, isAdmin } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { uploads } from "@/lib/schema";
import { uploadJson } from "@/lib/serialize";
import { limitOffset } from "@/lib/validation";

const ListQuery = z.object(limitOffset(100));

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const where = isAdmin(user) ? undefined : eq(uploads.businessUnit, user.businessUnit);
  const db = getDb();
  const rows = db
    .select()
    .from(uploads)
    .where(where)
    .orderBy(desc(uploads.createdAt), desc(uploads.id))
    .limit(query.limit)
    .offset(query.offset)
    .all();
  const total = db.select({ n: count() }).from(uploads).where(where).get()?.n ?? 0;
  return Response.json({ data: rows.map(uploadJson), total, limit: query.limit, offset: query.offset });
});
