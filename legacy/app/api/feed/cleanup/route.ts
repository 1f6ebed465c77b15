import { lte } from "drizzle-orm";
import { requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { route } from "@/lib/http";
import { feedItems } from "@/lib/schema";
import { nowIso } from "@/lib/time";

export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "admin");
  const deleted = getDb().transaction((tx) => {
    const result = tx.delete(feedItems).where(lte(feedItems.expiresAt, nowIso())).run();
    recordEvent(tx, "feed.cleanup", "feed_item", null, user.id, { deleted: result.changes }, null);
    return result.changes;
  });
  return Response.json({ deleted });
});
