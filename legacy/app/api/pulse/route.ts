import { z } from "zod";
import { authenticate } from "@/lib/auth";
import { resolveAsOf } from "@/lib/asof";
import { getDb, getSqlite } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { unitScope } from "@/lib/scope";
import { shiftDays } from "@/lib/time";
import { businessUnit, CHANNELS, PRIORITIES } from "@/lib/validation";

const PulseQuery = z.object({
  asOf: z.iso.datetime().optional(),
  days: z.coerce.number().int().min(1).max(90).default(7),
  businessUnit: businessUnit.optional(),
});

type Counted = { key: string; n: number }[];

function keyed(keys: readonly string[], rows: Counted): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of keys) out[key] = rows.find((r) => r.key === key)?.n ?? 0;
  return out;
}

/** Summary metrics over the window (asOf - days, asOf], in the caller's scope. */
export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(PulseQuery, request);
  const asOf = resolveAsOf(getDb(), query.asOf);
  const since = shiftDays(asOf, -query.days);
  const scope = unitScope(user, query.businessUnit);
  const sqlite = getSqlite();
  const inWindow = `created_at > ? AND created_at <= ?${scope.clause}`;
  const window = [since, asOf, ...scope.params];
  const count = (sql: string, params: unknown[]) => (sqlite.prepare(sql).get(...params) as { n: number }).n;
  const grouped = (column: string) =>
    sqlite.prepare(`SELECT ${column} AS key, count(*) AS n FROM cases WHERE ${inWindow} GROUP BY ${column}`).all(...window) as Counted;
  return Response.json({
    asOf,
    since,
    days: query.days,
    cases: {
      opened: count(`SELECT count(*) AS n FROM cases WHERE ${inWindow}`, window),
      resolved: count(
        `SELECT count(*) AS n FROM cases WHERE status IN ('resolved', 'closed') AND updated_at > ? AND updated_at <= ?${scope.clause}`,
        window,
      ),
      backlog: count(
        `SELECT count(*) AS n FROM cases WHERE status IN ('open', 'in_progress') AND created_at <= ?${scope.clause}`,
        [asOf, ...scope.params],
      ),
      byChannel: keyed(CHANNELS, grouped("channel")),
      byPriority: keyed(PRIORITIES, grouped("priority")),
    },
    alerts: {
      raised: count(`SELECT count(*) AS n FROM alerts WHERE ${inWindow}`, window),
      critical: count(`SELECT count(*) AS n FROM alerts WHERE severity = 'critical' AND ${inWindow}`, window),
      active: count(
        `SELECT count(*) AS n FROM alerts WHERE status = 'active' AND created_at <= ?${scope.clause}`,
        [asOf, ...scope.params],
      ),
    },
  });
});
