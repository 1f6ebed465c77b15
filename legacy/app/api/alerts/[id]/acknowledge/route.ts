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
  const { user } = requireRole(request, "agent");
  const id = await parseId(params);
  const db = getDb();
  const alert = findAlert(db, user, id);
  if (alert.status !== "active") throw conflict("Alert is not active");
  const now = nowIso();
  const updated = db.transaction((tx) => {
    const row = tx
      .update(alerts)
      .set({ status: "acknowledged", acknowledgedBy: user.id, acknowledgedAt: now, updatedAt: now })
      .where(eq(alerts.id, id))
      .returning()
      .get();
    recordEvent(tx, "alert.acknowledged", "alert", id, user.id, alertJson(row), row.businessUnit);
    return row;
  });
  return Response.json(alertJson(updated));
});
