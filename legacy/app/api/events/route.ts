import { and, desc, eq, gte, lt, type SQL } from "drizzle-orm";
import { z } from "zod";
import { requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { SUBJECT_TYPES } from "@/lib/events";
import { customIssue, parseQuery, route } from "@/lib/http";
import { events } from "@/lib/schema";
import { eventJson } from "@/lib/serialize";

const ListQuery = z.object({
  kind: z.string().min(1).max(64).optional(),
  subjectType: z.enum(SUBJECT_TYPES).optional(),
  subjectId: z.coerce.number().int().positive().optional(),
  since: z.iso.datetime().optional(),
  until: z.iso.datetime().optional(),
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});

const Cursor = z.object({ i: z.number().int() });

const encodeCursor = (id: number) => Buffer.from(JSON.stringify({ i: id })).toString("base64url");

function decodeCursor(raw: string): number {
  try {
    const parsed = Cursor.safeParse(JSON.parse(Buffer.from(raw, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data.i;
  } catch {
    // fall through to the validation error
  }
  throw customIssue("cursor", "Invalid cursor");
}

/** The audit trail, newest first (admin only: payloads hold every unit's rows). */
export const GET = route(async (request: Request) => {
  requireRole(request, "admin");
  const query = parseQuery(ListQuery, request);
  const before = query.cursor === undefined ? null : decodeCursor(query.cursor);
  const filters: SQL[] = [];
  if (query.kind) filters.push(eq(events.kind, query.kind));
  if (query.subjectType) filters.push(eq(events.subjectType, query.subjectType));
  if (query.subjectId) filters.push(eq(events.subjectId, query.subjectId));
  if (query.since) filters.push(gte(events.createdAt, new Date(query.since).toISOString()));
  if (query.until) filters.push(lt(events.createdAt, new Date(query.until).toISOString()));
  if (before !== null) filters.push(lt(events.id, before));
  const rows = getDb()
    .select()
    .from(events)
    .where(and(...filters))
    .orderBy(desc(events.id))
    .limit(query.limit + 1)
    .all();
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const nextCursor = rows.length > query.limit && last ? encodeCursor(last.id) : null;
  return Response.json({ data: page.map(eventJson), nextCursor });
});
