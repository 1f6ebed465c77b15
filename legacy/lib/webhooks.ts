import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { AlertBody } from "./alerts";
import { ApiError, customIssue } from "./http";
import { businessUnit } from "./validation";

/** Alerts an external monitor sends: an alert's fields, its business unit required. */
export const WebhookAlertBody = AlertBody.extend({ businessUnit });
export type WebhookAlert = z.infer<typeof WebhookAlertBody>;

export const SIGNATURE_HEADER = "x-signature";
export const TIMESTAMP_HEADER = "x-signature-timestamp";
export const KEY_HEADER = "idempotency-key";
export const WINDOW_S = 300;

/**
 * Checks `X-Signature: sha256=<hex>`, an HMAC-SHA256 with $WEBHOOK_SECRET over
 * `<timestamp>.<raw body bytes>`, and that the timestamp is within five minutes of now.
 * The bytes are the body as received, never re-serialized JSON.
 */
export function verifySignature(request: Request, raw: Buffer, nowMs: number = Date.now()): void {
  const secret = process.env.WEBHOOK_SECRET;
  if (!secret) throw new ApiError("invalid_signature", "Webhook signing is not configured");
  const signature = request.headers.get(SIGNATURE_HEADER);
  const stamp = request.headers.get(TIMESTAMP_HEADER);
  if (!signature || !stamp) throw new ApiError("invalid_signature", "Missing signature");
  if (!/^\d{1,12}$/.test(stamp)) throw new ApiError("invalid_signature", "Invalid signature timestamp");
  const mac = createHmac("sha256", secret);
  mac.update(`${stamp}.`);
  mac.update(raw);
  const expected = Buffer.from(`sha256=${mac.digest("hex")}`);
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new ApiError("invalid_signature", "Invalid signature");
  }
  if (Math.abs(Math.floor(nowMs / 1000) - Number(stamp)) > WINDOW_S) {
    throw new ApiError("invalid_signature", "Signature timestamp outside the 5-minute window");
  }
}

/** The Idempotency-Key header (null: none), 1 to 200 characters. */
export function idempotencyKey(request: Request): string | null {
  const key = request.headers.get(KEY_HEADER);
  if (key === null) return null;
  if (key.length < 1 || key.length > 200) throw customIssue("Idempotency-Key", "Must be 1 to 200 characters");
  return key;
}

export const sha256Hex = (raw: Buffer): string => createHash("sha256").update(raw).digest("hex");
