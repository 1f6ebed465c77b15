import { desc } from "drizzle-orm";
import { z } from "zod";
import { alertFilters, alertWhere } from "@/lib/alerts";
import { authenticate } from "@/lib/auth";
import { caseFilters, caseOrder, caseWhere } from "@/lib/cases";
import { csvRecord, streamOf } from "@/lib/csv-export";
import { getDb } from "@/lib/db";
import { parseQuery, route } from "@/lib/http";
import { alerts, cases, type AlertRow, type CaseRow } from "@/lib/schema";
import { alertJson, caseJson } from "@/lib/serialize";

const ExportQuery = z.object({
  resource: z.enum(["cases", "alerts"]),
  format: z.enum(["csv", "json"]).default("csv"),
});
const CaseExport = z.object(caseFilters);
const AlertExport = z.object(alertFilters);

const CASE_COLUMNS = [
  "id", "title", "description", "channel", "status", "category", "priority", "businessUnit",
  "customerName", "assigneeId", "metadata", "createdAt", "updatedAt",
] as const;
const ALERT_COLUMNS = [
  "id", "title", "message", "severity", "status", "businessUnit", "caseId", "acknowledgedBy",
  "acknowledgedAt", "resolvedAt", "metadata", "createdAt", "updatedAt",
] as const;

const caseCells = (r: CaseRow) => [
  r.id, r.title, r.description, r.channel, r.status, r.category, r.priority, r.businessUnit,
  r.customerName, r.assigneeId, r.metadata, r.createdAt, r.updatedAt,
];
const alertCells = (r: AlertRow) => [
  r.id, r.title, r.message, r.severity, r.status, r.businessUnit, r.caseId, r.acknowledgedBy,
  r.acknowledgedAt, r.resolvedAt, r.metadata, r.createdAt, r.updatedAt,
];

function* csvChunks<R>(columns: readonly string[], rows: R[], cells: (row: R) => (string | number | null)[]) {
  yield csvRecord([...columns]);
  for (const row of rows) yield csvRecord(cells(row));
}

function* jsonChunks<R>(rows: R[], toJson: (row: R) => unknown) {
  yield "[";
  for (const [index, row] of rows.entries()) yield (index ? "," : "") + JSON.stringify(toJson(row));
  yield "]";
}

/** Cases or alerts in the caller's scope, with the list filters, as CSV (header row) or a JSON array. */
export const GET = route(async (request: Request) => {
  const { user } = authenticate(request);
  const { resource, format } = parseQuery(ExportQuery, request);
  const db = getDb();
  let body: Iterable<string>;
  if (resource === "cases") {
    const query = parseQuery(CaseExport, request);
    const rows = db.select().from(cases).where(caseWhere(user, query)).orderBy(...caseOrder(query.sort)).all();
    body = format === "csv" ? csvChunks(CASE_COLUMNS, rows, caseCells) : jsonChunks(rows, caseJson);
  } else {
    const query = parseQuery(AlertExport, request);
    const rows = db
      .select()
      .from(alerts)
      .where(alertWhere(user, query))
      .orderBy(desc(alerts.createdAt), desc(alerts.id))
      .all();
    body = format === "csv" ? csvChunks(ALERT_COLUMNS, rows, alertCells) : jsonChunks(rows, alertJson);
  }
  return new Response(streamOf(body), {
    headers: {
      "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/json",
      "content-disposition": `attachment; filename="${resource}.${format}"`,
    },
  });
});
