import { and, asc, desc, eq, ne, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import { canSee, isAdmin } from "./auth";
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

const SORTS = ["createdAt", "-createdAt", "updatedAt", "-updatedAt", "priority", "-priority", "title", "-title"] as const;

/** The list filters of GET /api/cases (also GET /api/export?resource=cases). */
export const caseFilters = {
  channel: z.enum(CHANNELS).optional(),
  status: z.enum(CASE_STATUSES).optional(),
  category: z.string().min(1).max(64).optional(),
  businessUnit: businessUnit.optional(),
  assigneeId: z.coerce.number().int().positive().optional(),
  sort: z.enum(SORTS).default("-createdAt"),
};

const CaseFilters = z.object(caseFilters);
export type CaseFilters = z.infer<typeof CaseFilters>;

const priorityRank = sql`case ${cases.priority} when 'low' then 0 when 'medium' then 1 when 'high' then 2 else 3 end`;

const SORT_COLUMN = {
  createdAt: cases.createdAt,
  updatedAt: cases.updatedAt,
  priority: priorityRank,
  title: cases.title,
} as const;

/** `priority`: a filter only the list takes (the contract does not document it). */
export function caseWhere(
  user: User,
  query: Omit<CaseFilters, "sort"> & { priority?: (typeof PRIORITIES)[number] },
): SQL | undefined {
  const filters: SQL[] = [];
  if (!isAdmin(user)) filters.push(eq(cases.businessUnit, user.businessUnit));
  if (query.channel) filters.push(eq(cases.channel, query.channel));
  if (query.status) filters.push(eq(cases.status, query.status));
  if (query.category) filters.push(sql`lower(${cases.category}) = lower(${query.category})`);
  if (query.businessUnit) filters.push(eq(cases.businessUnit, query.businessUnit));
  if (query.assigneeId) filters.push(eq(cases.assigneeId, query.assigneeId));
  if (query.priority) filters.push(eq(cases.priority, query.priority));
  return and(...filters);
}

export function caseOrder(sort: CaseFilters["sort"]): SQL[] {
  const direction = sort.startsWith("-") ? desc : asc;
  const key = sort.replace("-", "") as keyof typeof SORT_COLUMN;
  return [direction(SORT_COLUMN[key]), direction(cases.id)];
}
