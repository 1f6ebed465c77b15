import { count } from "drizzle-orm";
import { z } from "zod";
import { authenticate, isAdmin, requireRole } from "@/lib/auth";
import { caseFilters, caseOrder, caseWhere, checkAssignee, CreateCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { forbidden, minimal, parseQuery, parseWith, prefersMinimal, readJson, route } from "@/lib/http";
import { cases } from "@/lib/schema";
import { PRIORITIES } from "@/lib/validation";
import { caseJson } from "@/lib/serialize";

const ListQuery = z.object({
  ...caseFilters,
  priority: z.enum(PRIORITIES).optional(), // not in the contract: a filter the list also takes
  page: z.coerce.number().int().min(1).default(1),
  pageSize: z.coerce.number().int().min(1).max(100).default(20),
});

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(ListQuery, request);
  const where = caseWhere(user, query);
  const db = getDb();
  const rows = db
    .select()
    .from(cases)
    .where(where)
    .orderBy(...caseOrder(query.sort))
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
    recordEvent(tx, "case.created", "case", row.id, user.id, caseJson(row), row.businessUnit);
    return row;
  });
  if (prefersMinimal(request)) return minimal();
  return Response.json(caseJson(created), { status: 201 });
});
