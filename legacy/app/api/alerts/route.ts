import { count, desc } from "drizzle-orm";
import { z } from "zod";
import { AlertBody, alertFilters, alertWhere, checkCaseExists } from "@/lib/alerts";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { forbidden, parseQuery, parseWith, readJson, route } from "@/lib/http";
import { alerts } from "@/lib/schema";
import { alertJson } from "@/lib/serialize";
import { limitOffset } from "@/lib/validation";

const ListQuery = z.object({ ...alertFilters, ...limitOffset(100) });

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const where = alertWhere(user, query);
  const db = getDb();
  const rows = db
    .select()
    .from(alerts)
    .where(where)
    .orderBy(desc(alerts.createdAt), desc(alerts.id))
    .limit(query.limit)
    .offset(query.offset)
    .all();
  const total = db.select({ n: count() }).from(alerts).where(where).get()?.n ?? 0;
  return Response.json({ data: rows.map(alertJson), total, limit: query.limit, offset: query.offset });
});

export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "admin");
  const body = parseWith(AlertBody, await readJson(request));
  const db = getDb();
  checkCaseExists(db, body.caseId);
  const unit = body.businessUnit ?? user.businessUnit;
  if (!isAdmin(user) && unit !== user.businessUnit) throw forbidden();
  const created = db.transaction((tx) => {
    const row = tx
      .insert(alerts)
      .values({
        title: body.title,
        message: body.message,
        severity: body.severity,
        businessUnit: unit,
        caseId: body.caseId ?? null,
        metadata: body.metadata == null ? null : JSON.stringify(body.metadata),
      })
      .returning()
      .get();
    recordEvent(tx, "alert.created", "alert", row.id, user.id, alertJson(row), row.businessUnit);
    return row;
  });
  return Response.json(alertJson(created), { status: 201 });
});
