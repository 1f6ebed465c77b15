import { createHash } from "node:crypto";
import { requireRole } from "@/lib/auth";
import { parseCasesCsv, MAX_UPLOAD_BYTES } from "@/lib/csv-import";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { ApiError, customIssue, route } from "@/lib/http";
import { cases, uploads } from "@/lib/schema";
import { uploadJson } from "@/lib/serialize";

export const POST = route(async (request: Request) => {
  const { user } = requireRole(request, "agent");
  const contentType = request.headers.get("content-type") ?? "";
  if (!contentType.toLowerCase().startsWith("multipart/form-data")) {
    throw new ApiError("unsupported_media_type", "Expected multipart/form-data");
  }
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    throw new ApiError("unsupported_media_type", "Expected multipart/form-data");
  }
  const file = form.get("file");
  if (!(file instanceof File)) throw customIssue("file", "File is required");
  if (!file.name.toLowerCase().endsWith(".csv")) {
    throw new ApiError("unsupported_media_type", "Only CSV files are accepted");
  }
  if (file.size > MAX_UPLOAD_BYTES) throw new ApiError("payload_too_large", "File exceeds 5 MB limit");
  const bytes = Buffer.from(await file.arrayBuffer());
  const parsed = parseCasesCsv(bytes.toString("utf8"), user);
  const db = getDb();
  const upload = db.transaction((tx) => {
    for (const row of parsed.rows) {
      tx.insert(cases)
        .values({
          title: row.title,
          description: row.description,
          channel: row.channel,
          status: row.status,
          category: row.category,
          priority: row.priority,
          businessUnit: row.businessUnit,
          customerName: row.customerName,
          assigneeId: null,
          metadata: null,
        })
        .run();
    }
    const created = tx
      .insert(uploads)
      .values({
        filename: file.name.slice(0, 255),
        contentType: file.type || "application/octet-stream",
        size: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        status: parsed.failure ? "failed" : "processed",
        rowsImported: parsed.failure ? 0 : parsed.rows.length,
        rowsRejected: parsed.rejected,
        error: parsed.failure,
        userId: user.id,
        businessUnit: user.businessUnit,
      })
      .returning()
      .get();
    recordEvent(
      tx,
      "upload.processed",
      "upload",
      created.id,
      user.id,
      { rowsImported: created.rowsImported, rowsRejected: created.rowsRejected },
      created.businessUnit,
    );
    return created;
  });
  return Response.json({ upload: uploadJson(upload), errors: parsed.errors }, { status: 201 });
});
