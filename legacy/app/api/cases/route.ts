import { and, asc, count, desc, eq, sql, type SQL } from "drizzle-orm";
import { z } from "zod";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { checkAssignee, CreateCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { forbidden, parseQuery, parseWith, readJson, route } from "@/lib/http";
import { cases } from "@/lib/schema";
import { caseJson } from "@/lib/serialize";
import { businessUnit, CASE_STATUSES, CHANNELS } from "@/lib/validation";

const SORTS = ["createdAt", "-createdAt", "updatedAt", "-updatedAt", "priority", "-priority", "title", "-title"] as const;

const ListQuery = z.object({
  channel: z.enum(CHANNELS).optional(),
  status: z.enum(CASE_STATUSES).optional(),
  category: z.string().min(1).max(64).optional(),
  businessUnit: businessUnit.optional(),
  assigneeId: z.coerce.number().int().positive().optional(),
  sort: z.enum(SORTS).default("-createdAt"),
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
});

const priorityRank = sql`case ${cases.priority} when 'low' then 0 when 'medium' then 1 when 'high' then 2 else 3 end`;

const SORT_COLUMN = {
  createdAt: cases.createdAt,
  updatedAt: cases.updatedAt,
  priority: priorityRank,
  title: cases.title,
} as const;

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const filters: SQL[] = [];
  if (!isAdmin(user)) filters.push(eq(cases.businessUnit, user.businessUnit));
  if (query.channel) filters.push(eq(cases.channel, query.channel));
  if (query.status) filters.push(eq(cases.status, query.status));
  if (query.category) filters.push(sql`lower(${cases.category}) = lower(${query.category})`);
  if (query.businessUnit) filters.push(eq(cases.businessUnit, query.businessUnit));
  if (query.assigneeId) filters.push(eq(cases.assigneeId, query.assigneeId));
  const where = and(...filters);
  const descending = query.sort.startsWith("-");
  const key = query.sort.replace("-", "") as keyof typeof SORT_COLUMN;
  const direction = descending ? desc : asc;
  const db = getDb();
  const rows = db
    .select()
    .from(cases)
    .where(where)
    .orderBy(direction(SORT_COLUMN[key]), direction(cases.id))
    .limit(query.pageSize)
    .offset((query.page - 1) * query.pageSize)
    .all();
  const total = db.select({ n: count() }).from(cases).where(where).get()?.n ?? 0;
  return Response.json({
    data: rows.map(caseJson),
    pagination: {
      page: query.page,
      pageSize: query.pageSize,
      total,
      totalPages: Math.ceil(total / query.pageSize),
    },
  });
});

export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "agent");
  const body = parseWith(CreateCase, await readJson(request));
  const unit = body.businessUnit ?? user.businessUnit;
  if (!isAdmin(user) && unit !== user.businessUnit) throw forbidden();
  const db = getDb();
  checkAssignee(db, body.assigneeId, unit);
  const created = db.transaction((tx) => {
    const row = tx
      .insert(cases)
      .values({
        title: body.title,
        description: body.description,
        channel: body.channel,
        status: body.status,
        category: body.category,
        priority: body.priority,
        businessUnit: unit,
        customerName: body.customerName,
        assigneeId: body.assigneeId ?? null,
        metadata: body.metadata == null ? null : JSON.stringify(body.metadata),
      })
      .returning()
      .get();
    recordEvent(tx, "case.created", "case", row.id, user.id, caseJson(row));
    return row;
  });
  return Response.json(caseJson(created), { status: 201 });
});
