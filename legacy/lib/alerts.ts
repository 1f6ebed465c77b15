import { and, eq, type SQL } from "drizzle-orm";
import { z } from "zod";
import { canSee, isAdmin } from "./auth";
import type { Db } from "./db";
import { customIssue, notFound } from "./http";
import { alerts, cases, type User } from "./schema";
import { ALERT_STATUSES, businessUnit, metadata, positiveId, SEVERITIES } from "./validation";

export const AlertBody = z.object({
  title: z.string().min(1).max(200),
  message: z.string().min(1).max(2000),
  severity: z.enum(SEVERITIES),
  businessUnit: businessUnit.optional(),
  caseId: positiveId.nullable().optional(),
  metadata: metadata.optional(),
});

export function findAlert(db: Db, user: User, id: number) {
  const row = db.select().from(alerts).where(eq(alerts.id, id)).get();
  if (!row || !canSee(user, row.businessUnit)) throw notFound("Alert");
  return row;
}

export function checkCaseExists(db: Db, caseId: number | null | undefined): void {
  if (caseId == null) return;
  const row = db.select({ id: cases.id }).from(cases).where(eq(cases.id, caseId)).get();
  if (!row) throw customIssue("caseId", "Case not found");
}

/** The list filters of GET /api/alerts (also GET /api/export?resource=alerts). */
export const alertFilters = {
  businessUnit: businessUnit.optional(),
  severity: z.enum(SEVERITIES).optional(),
  status: z.enum(ALERT_STATUSES).optional(),
};

const AlertFilters = z.object(alertFilters);

export function alertWhere(user: User, query: z.infer<typeof AlertFilters>): SQL | undefined {
  const filters: SQL[] = [];
  if (!isAdmin(user)) filters.push(eq(alerts.businessUnit, user.businessUnit));
  if (query.businessUnit) filters.push(eq(alerts.businessUnit, query.businessUnit));
  if (query.severity) filters.push(eq(alerts.severity, query.severity));
  if (query.status) filters.push(eq(alerts.status, query.status));
  return and(...filters);
}
