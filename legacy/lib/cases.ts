import { and, eq, ne } from "drizzle-orm";
import { z } from "zod";
import { canSee } from "./auth";
import type { Db } from "./db";
import { customIssue, notFound } from "./http";
import { cases, users, type User } from "./schema";
import { businessUnit, CASE_STATUSES, CHANNELS, metadata, positiveId, PRIORITIES } from "./validation";

const fields = {
  title: z.string().min(1).max(200),
  description: z.string().max(5000),
  channel: z.enum(CHANNELS),
  status: z.enum(CASE_STATUSES),
  category: z.string().min(1).max(64),
  priority: z.enum(PRIORITIES),
  businessUnit,
  customerName: z.string().min(1).max(200),
  assigneeId: positiveId.nullable(),
  metadata,
};

export const CreateCase = z.object({
  title: fields.title,
  description: fields.description.default(""),
  channel: fields.channel,
  status: fields.status.default("open"),
  category: fields.category,
  priority: fields.priority.default("medium"),
  businessUnit: fields.businessUnit.optional(),
  customerName: fields.customerName,
  assigneeId: fields.assigneeId.optional(),
  metadata: fields.metadata.optional(),
});

export const UpdateCase = z
  .object({
    title: fields.title.optional(),
    description: fields.description.optional(),
    channel: fields.channel.optional(),
    status: fields.status.optional(),
    category: fields.category.optional(),
    priority: fields.priority.optional(),
    businessUnit: fields.businessUnit.optional(),
    customerName: fields.customerName.optional(),
    assigneeId: fields.assigneeId.optional(),
    metadata: fields.metadata.optional(),
  })
  .refine((body) => Object.values(body).some((value) => value !== undefined), {
    message: "At least one field is required",
  });

export const AssignBody = z.object({ assigneeId: positiveId.nullable() });

export function findCase(db: Db, user: User, id: number) {
  const row = db.select().from(cases).where(eq(cases.id, id)).get();
  if (!row || !canSee(user, row.businessUnit)) throw notFound("Case");
  return row;
}

/** An assignee must be a non-viewer user of the case's business unit. */
export function checkAssignee(db: Db, assigneeId: number | null | undefined, unit: string): void {
  if (assigneeId == null) return;
  const row = db
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.id, assigneeId), eq(users.businessUnit, unit), ne(users.role, "viewer")))
    .get();
  if (!row) throw customIssue("assigneeId", "Invalid assignee");
}
