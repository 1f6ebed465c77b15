import { eq } from "drizzle-orm";
import { authenticate, canSee } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { jobJson } from "@/lib/jobs";
import { notFound, parseId, route } from "@/lib/http";
import { cases, jobs } from "@/lib/schema";

type Ctx = { params: Promise<{ id: string }> };

/** A job's state; visible to whoever can see its case (others get 404, as for the case). */
export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  const db = getDb();
  const row = db
    .select({ job: jobs, unit: cases.businessUnit })
    .from(jobs)
    .innerJoin(cases, eq(cases.id, jobs.caseId))
    .where(eq(jobs.id, id))
    .get();
  if (!row || !canSee(user, row.unit)) throw notFound("Job");
  return Response.json(jobJson(row.job));
});
