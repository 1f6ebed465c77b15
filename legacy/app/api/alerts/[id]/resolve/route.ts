import { eq } from "drizzle-orm";
import { findAlert } from "@/lib/alerts";
import { requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { conflict, parseId, route } from "@/lib/http";
import { alerts } from "@/lib/schema";
import { alertJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";

type Ctx = { params: Promise<{ id: string }> };

export const POST = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "admin");
  const id = await parseId(params);
  const db = getDb();
  const alert = findAlert(db, user, id);
  if (alert.status === "resolved") throw conflict("Alert is already resolved");
  const now = nowIso();
  const updated = db.transaction((tx) => {
    const row = tx
      .update(alerts)
      .set({ status: "resolved", resolvedAt: now, updatedAt: now })
      .where(eq(alerts.id, id))
      .returning()
      .get();
    recordEvent(tx, "alert.resolved", "alert", id, user.id, alertJson(row), row.businessUnit);
    return row;
  });
  return Response.json(alertJson(updated));
});
