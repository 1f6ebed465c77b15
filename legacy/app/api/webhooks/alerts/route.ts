import { eq } from "drizzle-orm";
import { checkCaseExists } from "@/lib/alerts";
import { getDb } from "@/lib/db";
import { recordEvent } from "@/lib/events";
import { ApiError, parseWith, route } from "@/lib/http";
import { alerts, webhookDeliveries } from "@/lib/schema";
import { hit, webhookKey, webhookLimit } from "@/lib/ratelimit";
import { alertJson } from "@/lib/serialize";
import { idempotencyKey, sha256Hex, verifySignature, WebhookAlertBody } from "@/lib/webhooks";

const isUniqueViolation = (error: unknown): boolean =>
  error instanceof Error && (error as { code?: string }).code === "SQLITE_CONSTRAINT_UNIQUE";

type Delivery = typeof webhookDeliveries.$inferSelect;

/** The answer kept for a key: the first answer again for the same body, 409 for another. */
function replay(kept: Delivery, bodySha256: string): Response {
  if (kept.bodySha256 !== bodySha256) {
    throw new ApiError("idempotency_conflict", "Idempotency-Key was already used with another body");
  }
  return new Response(kept.answer, { status: kept.status, headers: { "content-type": "application/json" } });
}

/**
 * An alert from an external monitor, signed (lib/webhooks.ts). With an Idempotency-Key the
 * first answer is kept in webhook_deliveries (a unique key), so a retry creates no second
 * alert and answers the first answer again.
 */
export const POST = route(async (request: Request) => {
  const raw = Buffer.from(await request.arrayBuffer());
  verifySignature(request, raw);
  const db = getDb();
  hit(db, webhookKey(process.env.WEBHOOK_SECRET ?? ""), webhookLimit()); // per signing key
  const key = idempotencyKey(request);
  const bodySha256 = sha256Hex(raw);
  const lookup = (k: string) =>
    db.select().from(webhookDeliveries).where(eq(webhookDeliveries.idempotencyKey, k)).get();
  if (key !== null) {
    const kept = lookup(key);
    if (kept) return replay(kept, bodySha256);
  }
  let input: unknown;
  try {
    input = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new ApiError("invalid_json", "Request body must be valid JSON");
  }
  const body = parseWith(WebhookAlertBody, input);
  checkCaseExists(db, body.caseId);
  let answer: string;
  try {
    answer = db.transaction((tx) => {
    const row = tx
      .insert(alerts)
      .values({
        title: body.title,
        message: body.message,
        severity: body.severity,
        businessUnit: body.businessUnit,
        caseId: body.caseId ?? null,
        metadata: body.metadata == null ? null : JSON.stringify(body.metadata),
      })
      .returning()
      .get();
    const json = alertJson(row);
    recordEvent(tx, "alert.created", "alert", row.id, null, json, row.businessUnit);
    const text = JSON.stringify(json);
    if (key !== null) {
      // the unique key, not the lookup above, decides between two deliveries at once
      tx.insert(webhookDeliveries).values({ idempotencyKey: key, bodySha256, status: 201, answer: text, alertId: row.id }).run();
    }
    return text;
    });
  } catch (error) {
    // another process (the port on a shared file) stored this key first: answer as it did
    const kept = key !== null && isUniqueViolation(error) ? lookup(key) : undefined;
    if (!kept) throw error;
    return replay(kept, bodySha256);
  }
  return new Response(answer, { status: 201, headers: { "content-type": "application/json" } });
});
