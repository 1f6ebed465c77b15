import { and, desc, eq, gt, isNull, lt, or, type SQL } from "drizzle-orm";
import { z } from "zod";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { customIssue, forbidden, parseQuery, parseWith, readJson, route } from "@/lib/http";
import { feedItems } from "@/lib/schema";
import { feedJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";
import { businessUnit, FEED_KINDS } from "@/lib/validation";

const ListQuery = z.object({
  kind: z.enum(FEED_KINDS).optional(),
  businessUnit: businessUnit.optional(),
  cursor: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(50).default(20),
});

const Cursor = z.object({ p: z.number().int(), c: z.string(), i: z.number().int() });
type Cursor = z.infer<typeof Cursor>;

const encodeCursor = (cursor: Cursor) => Buffer.from(JSON.stringify(cursor)).toString("base64url");

function decodeCursor(raw: string): Cursor {
  try {
    const parsed = Cursor.safeParse(JSON.parse(Buffer.from(raw, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through to the validation error
  }
  throw customIssue("cursor", "Invalid cursor");
}

const CreateFeed = z.object({
  kind: z.enum(FEED_KINDS),
  title: z.string().min(1).max(200),
  body: z.string().max(5000).default(""),
  priority: z.number().int().min(0).max(100).default(50),
  businessUnit: businessUnit.nullable().optional(),
  expiresAt: z.iso.datetime().nullable().optional(),
});

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const cursor = query.cursor === undefined ? null : decodeCursor(query.cursor);
  const filters: (SQL | undefined)[] = [
    or(isNull(feedItems.expiresAt), gt(feedItems.expiresAt, nowIso())),
  ];
  if (!isAdmin(user)) {
    filters.push(or(isNull(feedItems.businessUnit), eq(feedItems.businessUnit, user.businessUnit)));
  }
  if (query.kind) filters.push(eq(feedItems.kind, query.kind));
  if (query.businessUnit) filters.push(eq(feedItems.businessUnit, query.businessUnit));
  if (cursor) {
    filters.push(
      or(
        lt(feedItems.priority, cursor.p),
        and(eq(feedItems.priority, cursor.p), lt(feedItems.createdAt, cursor.c)),
        and(eq(feedItems.priority, cursor.p), eq(feedItems.createdAt, cursor.c), lt(feedItems.id, cursor.i)),
      ),
    );
  }
  const rows = getDb()
    .select()
    .from(feedItems)
    .where(and(...filters))
    .orderBy(desc(feedItems.priority), desc(feedItems.createdAt), desc(feedItems.id))
    .limit(query.limit + 1)
    .all();
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  const nextCursor =
    rows.length > query.limit && last ? encodeCursor({ p: last.priority, c: last.createdAt, i: last.id }) : null;
  return Response.json({ data: page.map(feedJson), nextCursor });
});

export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "agent");
  const body = parseWith(CreateFeed, await readJson(request));
  const unit = body.businessUnit === undefined ? user.businessUnit : body.businessUnit;
  if (!isAdmin(user) && unit !== user.businessUnit) throw forbidden();
  const created = getDb().transaction((tx) => {
    const row = tx
      .insert(feedItems)
      .values({
        kind: body.kind,
        title: body.title,
        body: body.body,
        priority: body.priority,
        businessUnit: unit,
        expiresAt: body.expiresAt ? new Date(body.expiresAt).toISOString() : null,
      })
      .returning()
      .get();
    recordEvent(tx, "feed.created", "feed_item", row.id, user.id, feedJson(row), row.businessUnit);
    return row;
  });
  return Response.json(feedJson(created), { status: 201 });
});
