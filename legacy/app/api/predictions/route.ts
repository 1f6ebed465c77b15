import { z } from "zod";
import { authenticate } from "@/lib/auth";
import { resolveAsOf } from "@/lib/asof";
import { getDb, getSqlite } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { unitScope } from "@/lib/scope";
import { shiftDays } from "@/lib/time";
import { businessUnit, CHANNELS } from "@/lib/validation";

const PredictionQuery = z.object({
  asOf: z.iso.datetime().optional(),
  weeks: z.coerce.number().int().min(2).max(12).default(4),
  businessUnit: businessUnit.optional(),
});

/**
 * Next week's case volume per channel: a weighted moving average of the last `weeks` 7-day
 * windows before asOf (the most recent week weighs `weeks`, the oldest 1), rounded half up
 * with integer arithmetic so every stack gets the same number.
 */
export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const query = parseQuery(PredictionQuery, request);
  const asOf = resolveAsOf(getDb(), query.asOf);
  const scope = unitScope(user, query.businessUnit);
  const statement = getSqlite().prepare(
    `SELECT channel, count(*) AS n FROM cases WHERE created_at > ? AND created_at <= ?${scope.clause} GROUP BY channel`,
  );
  const history: Record<string, number[]> = Object.fromEntries(CHANNELS.map((c) => [c, []]));
  for (let back = query.weeks; back >= 1; back--) {
    const rows = statement.all(shiftDays(asOf, -7 * back), shiftDays(asOf, -7 * (back - 1)), ...scope.params) as {
      channel: string;
      n: number;
    }[];
    for (const channel of CHANNELS) history[channel].push(rows.find((r) => r.channel === channel)?.n ?? 0);
  }
  const weightSum = (query.weeks * (query.weeks + 1)) / 2;
  const channels = CHANNELS.map((channel) => {
    const weighted = history[channel].reduce((sum, n, i) => sum + (i + 1) * n, 0);
    return { channel, history: history[channel], predicted: Math.floor((2 * weighted + weightSum) / (2 * weightSum)) };
  });
  return Response.json({
    asOf,
    weeks: query.weeks,
    method: "weighted-moving-average",
    forWeek: { from: asOf, to: shiftDays(asOf, 7) },
    channels,
    total: channels.reduce((sum, c) => sum + c.predicted, 0),
  });
});
