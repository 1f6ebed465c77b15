import { parse } from "csv-parse/sync";
import { CreateCase } from "./cases";
import { toIssues } from "./http";
import type { User } from "./schema";

export const MAX_UPLOAD_BYTES = 5 * 1024 * 1024;
const REQUIRED = ["title", "channel", "category", "customerName"] as const;
const OPTIONAL = ["description", "status", "priority", "businessUnit"] as const;
const MAX_ERRORS = 100;

export interface RowError {
  row: number;
  field: string;
  message: string;
}

export interface ParsedImport {
  rows: Array<ReturnType<typeof CreateCase.parse> & { businessUnit: string }>;
  errors: RowError[];
  rejected: number;
  failure: string | null;
}

/** Validates every data row with the POST /api/cases rules; good rows are kept. */
export function parseCasesCsv(text: string, user: User): ParsedImport {
  const result: ParsedImport = { rows: [], errors: [], rejected: 0, failure: null };
  let records: string[][];
  try {
    records = parse(text.replace(/^\uFEFF/, ""), { bom: true, relax_column_count: true, skip_empty_lines: true });
  } catch (error) {
    result.failure = `CSV could not be parsed: ${(error as Error).message}`;
    return result;
  }
  if (records.length === 0) {
    result.failure = "File is empty";
    return result;
  }
  const header = records[0].map((name) => name.trim());
  const missing = REQUIRED.filter((name) => !header.includes(name));
  if (missing.length) {
    result.failure = `Missing required columns: ${missing.join(", ")}`;
    return result;
  }
  if (records.length === 1) {
    result.failure = "File has no data rows";
    return result;
  }
  const known = new Set<string>([...REQUIRED, ...OPTIONAL]);
  records.slice(1).forEach((record, index) => {
    const line = index + 2;
    const input: Record<string, string> = {};
    header.forEach((name, column) => {
      const cell = record[column];
      if (known.has(name) && cell !== undefined && cell !== "") input[name] = cell;
    });
    const parsed = CreateCase.safeParse(input);
    if (!parsed.success) {
      result.rejected += 1;
      for (const issue of toIssues(parsed.error)) {
        if (result.errors.length < MAX_ERRORS) result.errors.push({ row: line, field: issue.path, message: issue.message });
      }
      return;
    }
    const unit = parsed.data.businessUnit ?? user.businessUnit;
    if (user.role !== "admin" && unit !== user.businessUnit) {
      result.rejected += 1;
      if (result.errors.length < MAX_ERRORS) result.errors.push({ row: line, field: "businessUnit", message: "Business unit not allowed" });
      return;
    }
    result.rows.push({ ...parsed.data, businessUnit: unit });
  });
  return result;
}
