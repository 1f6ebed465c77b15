import { and, eq } from "drizzle-orm";
import { authenticate } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { notFound, parseId, route } from "@/lib/http";
import { notifications } from "@/lib/schema";
import { notificationJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";

type Ctx = { params: Promise<{ id: string }> };

/** Marks one of the caller's notifications read (once: a second call keeps the first time). */
export const POST = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  const db = getDb();
  const existing = db
    .select()
    .from(notifications)
    .where(and(eq(notifications.id, id), eq(notifications.userId, user.id)))
    .get();
  if (!existing) throw notFound("Notification");
  const updated = db.transaction((tx) => {
    const row = tx
      .update(notifications)
      .set({ readAt: existing.readAt ?? nowIso() })
      .where(eq(notifications.id, id))
      .returning()
      .get();
    recordEvent(tx, "notification.read", "notification", id, user.id, notificationJson(row), null);
    return row;
  });
  return Response.json(notificationJson(updated));
});
