import { eq } from "drizzle-orm";
import { authenticate, canSee, requireRole } from "@/lib/auth";
import { getDb, type Db } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { noContent, notFound, parseId, route } from "@/lib/http";
import { uploads, type User } from "@/lib/schema";
import { uploadJson } from "@/lib/serialize";

type Ctx = { params: Promise<{ id: string }> };

function findUpload(db: Db, user: User, id: number) {
  const row = db.select().from(uploads).where(eq(uploads.id, id)).get();
  if (!row || !canSee(user, row.businessUnit)) throw notFound("Upload");
  return row;
}

export const GET = route(async (request: Request, { params }: Ctx) => {
  const { user } = authenticate(request);
  const id = await parseId(params);
  return Response.json(uploadJson(findUpload(getDb(), user, id)));
});

export const DELETE = route(async (request: Request, { params }: Ctx) => {
  const { user } = requireRole(request, "admin");
  const id = await parseId(params);
  const db = getDb();
  const existing = findUpload(db, user, id);
  db.transaction((tx) => {
    tx.delete(uploads).where(eq(uploads.id, id)).run();
    recordEvent(tx, "upload.deleted", "upload", id, user.id, { id }, existing.businessUnit);
  });
  return noContent();
});
