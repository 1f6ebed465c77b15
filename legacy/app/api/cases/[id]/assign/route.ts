import { eq } from "drizzle-orm";
import { requireRole } from "@/lib/auth";
import { AssignBody, checkAssignee, findCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { conflict, parseId, parseWith, readJson, route } from "@/lib/http";
import { notify } from "@/lib/notifications";
import { cases } from "@/lib/schema";
import { caseJson } from "@/lib/serialize";
import { nowIso } from "@/lib/time";

type Ctx = { params: Promise<{ id: string }> };

export const POST = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "agent");
  const id = await parseId(params);
  const body = parseWith(AssignBody, await readJson(request));
  const db = getDb();
  const existing = findCase(db, user, id);
  checkAssignee(db, body.assigneeId, existing.businessUnit);
  if (existing.status === "closed") throw conflict("Case is closed");
  const status = body.assigneeId !== null && existing.status === "open" ? "in_progress" : existing.status;
  const updated = db.transaction((tx) => {
    const row = tx
      .update(cases)
      .set({ assigneeId: body.assigneeId, status, updatedAt: nowIso() })
      .where(eq(cases.id, id))
      .returning()
      .get();
    if (body.assigneeId !== null && body.assigneeId !== existing.assigneeId && body.assigneeId !== user.id) {
      notify(tx, body.assigneeId, "assignment", id, user.id, `${user.name} assigned you case #${id}: ${row.title}`);
    }
    recordEvent(tx, "case.assigned", "case", id, user.id, caseJson(row), row.businessUnit);
    return row;
  });
  return Response.json(caseJson(updated));
});
