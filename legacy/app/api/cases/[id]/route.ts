import { eq } from "drizzle-orm";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { checkAssignee, findCase, UpdateCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { conflict, forbidden, minimal, noContent, parseId, parseWith, prefersMinimal, readJson, route } from "@/lib/http";
import { cases } from "@/lib/schema";
import { caseJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";

type Ctx = { params: Promise<{ id: string }> };

export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  return Response.json(caseJson(findCase(getDb(), user, id)));
});

export const PATCH = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "agent");
  const id = await parseId(params);
  const body = parseWith(UpdateCase, await readJson(request));
  const db = getDb();
  const existing = findCase(db, user, id);
  if (existing.status === "closed") {
    const keys = Object.entries(body).filter(([, value]) => value !== undefined);
    const reopening = keys.length === 1 && body.status === "open";
    if (!reopening) throw conflict("Case is closed");
  }
  if (body.businessUnit !== undefined && !isAdmin(user) && body.businessUnit !== user.businessUnit) {
    throw forbidden();
  }
  const unit = body.businessUnit ?? existing.businessUnit;
  if (body.assigneeId !== undefined) checkAssignee(db, body.assigneeId, unit);
  const { metadata, ...rest } = body;
  const changes: Partial<typeof cases.$inferInsert> = { ...rest, updatedAt: nowIso() };
  if (metadata !== undefined) changes.metadata = metadata === null ? null : JSON.stringify(metadata);
  const updated = db.transaction((tx) => {
    const row = tx.update(cases).set(changes).where(eq(cases.id, id)).returning().get();
    recordEvent(tx, "case.updated", "case", id, user.id, caseJson(row), row.businessUnit);
    return row;
  });
  if (prefersMinimal(request)) return minimal();
  return Response.json(caseJson(updated));
});

export const DELETE = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "admin");
  const id = await parseId(params);
  const db = getDb();
  const existing = findCase(db, user, id);
  db.transaction((tx) => {
    tx.delete(cases).where(eq(cases.id, id)).run();
    recordEvent(tx, "case.deleted", "case", id, user.id, { id }, existing.businessUnit);
  });
  return noContent();
});
