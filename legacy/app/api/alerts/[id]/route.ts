import { eq } from "drizzle-orm";
import { AlertBody, checkCaseExists, findAlert } from "@/lib/alerts";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { forbidden, noContent, parseId, parseWith, readJson, route } from "@/lib/http";
import { alerts } from "@/lib/schema";
import { alertJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  return Response.json(alertJson(findAlert(getDb(), user, id)));
});

export const PUT = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "admin");
  const id = await parseId(params);
  const body = parseWith(AlertBody, await readJson(request));
  const db = getDb();
  findAlert(db, user, id);
  checkCaseExists(db, body.caseId);
  const unit = body.businessUnit ?? user.businessUnit;
  if (!isAdmin(user) && unit !== user.businessUnit) throw forbidden();
  const updated = db.transaction((tx) => {
    const row = tx
      .update(alerts)
      .set({
        title: body.title,
        message: body.message,
        severity: body.severity,
        businessUnit: unit,
        caseId: body.caseId ?? null,
        metadata: body.metadata == null ? null : JSON.stringify(body.metadata),
        updatedAt: nowIso(),
      })
      .where(eq(alerts.id, id))
      .returning()
      .get();
    recordEvent(tx, "alert.updated", "alert", id, user.id, alertJson(row), row.businessUnit);
    return row;
  });
  return Response.json(alertJson(updated));
});

export const DELETE = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "admin");
  const id = await parseId(params);
  const db = getDb();
  const existing = findAlert(db, user, id);
  db.transaction((tx) => {
    tx.delete(alerts).where(eq(alerts.id, id)).run();
    recordEvent(tx, "alert.deleted", "alert", id, user.id, { id }, existing.businessUnit);
  });
  return noContent();
});
