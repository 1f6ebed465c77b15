import { and, count, desc, eq, isNull, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import { authenticate } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { notifications } from "@/lib/schema";
import { notificationJson } from "@/lib/serialize";
import { limitOffset } from "@/lib/validation";

const ListQuery = z.object({
  unread: z.enum(["true", "false"]).optional(),
  ...limitOffset(100),
});

/** The caller's own notifications, newest first. */
export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const mine = eq(notifications.userId, user.id);
  const filters: SQL[] = [mine];
  if (query.unread === "true") filters.push(isNull(notifications.readAt));
  if (query.unread === "false") filters.push(sql`${notifications.readAt} is not null`);
  const where = and(...filters);
  const db = getDb();
  const rows = db
    .select()
    .from(notifications)
    .where(where)
    .orderBy(desc(notifications.createdAt), desc(notifications.id))
    .limit(query.limit)
    .offset(query.offset)
    .all();
  const total = db.select({ n: count() }).from(notifications).where(where).get()?.n ?? 0;
  const unreadCount =
    db.select({ n: count() }).from(notifications).where(and(mine, isNull(notifications.readAt))).get()?.n ?? 0;
  return Response.json({
    data: rows.map(notificationJson),
    total,
    unreadCount,
    limit: query.limit,
    offset: query.offset,
  });
});
