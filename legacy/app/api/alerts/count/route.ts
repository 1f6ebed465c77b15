import { and, count, eq, type SQL } from "drizzle-orm";
import { z } from "zod";
import { authenticate, isAdmin } from "@/lib/auth";
import { getDb } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { alerts } from "@/lib/schema";
import { businessUnit } from "@/lib/validation";

const CountQuery = z.object({ businessUnit: businessUnit.optional() });

export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(CountQuery, request);
  const filters: SQL[] = [];
  if (!isAdmin(user)) filters.push(eq(alerts.businessUnit, user.businessUnit));
  if (query.businessUnit) filters.push(eq(alerts.businessUnit, query.businessUnit));
  const rows = getDb()
    .select({ severity: alerts.severity, status: alerts.status, n: count() })
    .from(alerts)
    .where(and(...filters))
    .groupBy(alerts.severity, alerts.status)
    .all();
  const bySeverity = { info: 0, warning: 0, critical: 0 };
  const byStatus = { active: 0, acknowledged: 0, resolved: 0 };
  let total = 0;
  for (const row of rows) {
    total += row.n;
    if (row.severity in bySeverity) bySeverity[row.severity] += row.n;
    if (row.status in byStatus) byStatus[row.status] += row.n;
  }
  return Response.json({ total, bySeverity, byStatus });
});
