import { sql } from "drizzle-orm";
import { z } from "zod";
import { canSee, requireRole } from "@/lib/auth";
import { findCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { customIssue, parseWith, readJson, route } from "@/lib/http";
import { notify } from "@/lib/notifications";
import { shares, users } from "@/lib/schema";
import { shareJson } from "@/lib/serialize";
import { positiveId } from "@/lib/validation";

const ShareBody = z.object({
  caseId: positiveId,
  sharedWith: z.string().min(1).max(320),
  note: z.string().max(1000).nullable().optional(),
});

/** Escalates a case to another user (by email), who gets a notification. */
export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "agent");
  const body = parseWith(ShareBody, await readJson(request));
  const db = getDb();
  const shared = findCase(db, user, body.caseId);
  const recipient = db
    .select()
    .from(users)
    .where(sql`lower(${users.email}) = lower(${body.sharedWith})`)
    .get();
  if (!recipient) throw customIssue("sharedWith", "Unknown recipient");
  if (recipient.id === user.id) throw customIssue("sharedWith", "Cannot share with yourself");
  if (!canSee(recipient, shared.businessUnit)) throw customIssue("sharedWith", "Recipient cannot see this case");
  const created = db.transaction((tx) => {
    const row = tx
      .insert(shares)
      .values({ caseId: shared.id, sharedWith: recipient.email, note: body.note ?? null, createdBy: user.id })
      .returning()
      .get();
    notify(tx, recipient.id, "share", shared.id, user.id, `${user.name} shared case #${shared.id}: ${shared.title}`);
    recordEvent(tx, "share.created", "share", row.id, user.id, shareJson(row), shared.businessUnit);
    return row;
  });
  return Response.json(shareJson(created), { status: 201 });
});
