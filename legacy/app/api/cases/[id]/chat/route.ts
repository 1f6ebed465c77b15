import { and, asc, eq, gt } from "drizzle-orm";
import { z } from "zod";
import { authenticate, requireRole } from "@/lib/auth";
import { findCase } from "@/lib/cases";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { conflict, parseId, parseQuery, parseWith, readJson, route } from "@/lib/http";
import { chatMessages } from "@/lib/schema";
import { chatJson } from "@/lib/serialize";

type Ctx = { params: Promise<{ id: string }> };

const ListQuery = z.object({
  after: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(100).default(50),
});

const MessageBody = z.object({ body: z.string().min(1).max(2000) });

/** The case's messages oldest first; `after` (a message id) fetches only newer ones. */
export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  const query = parseQuery(ListQuery, request);
  const db = getDb();
  findCase(db, user, id);
  const rows = db
    .select()
    .from(chatMessages)
    .where(and(eq(chatMessages.caseId, id), gt(chatMessages.id, query.after)))
    .orderBy(asc(chatMessages.id))
    .limit(query.limit)
    .all();
  return Response.json({ data: rows.map(chatJson) });
});

export const POST = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "agent");
  const id = await parseId(params);
  const body = parseWith(MessageBody, await readJson(request));
  const db = getDb();
  const existing = findCase(db, user, id);
  if (existing.status === "closed") throw conflict("Case is closed");
  const created = db.transaction((tx) => {
    const row = tx.insert(chatMessages).values({ caseId: id, userId: user.id, body: body.body }).returning().get();
    recordEvent(tx, "chat.created", "chat_message", row.id, user.id, chatJson(row), existing.businessUnit);
    return row;
  });
  return Response.json(chatJson(created), { status: 201 });
});
