import { authenticate } from "@/lib/auth";
import { findCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { jobJson } from "@/lib/jobs";
import { parseId, route } from "@/lib/http";
import { jobs } from "@/lib/schema";

type Ctx = { params: Promise<{ id: string }> };

/**
 * Queues a summary of the case (its alerts and chat) for the worker loop: 202 with the job
 * and its Location; GET /api/jobs/{id} follows it to `done` (or `failed`).
 */
export const POST = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  const db = getDb();
  const found = findCase(db, user, id);
  const created = db.transaction((tx) => {
    const row = tx.insert(jobs).values({ kind: "case_summary", caseId: id, requestedBy: user.id }).returning().get();
    recordEvent(tx, "job.queued", "job", row.id, user.id, jobJson(row), found.businessUnit);
    return row;
  });
  return Response.json(jobJson(created), { status: 202, headers: { Location: `/api/jobs/${created.id}` } });
});
