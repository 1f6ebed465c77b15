import type { AlertRow, CaseRow, FeedRow, UploadRow } from "./schema";

const parseJson = (text: string | null): unknown => (text ? JSON.parse(text) : undefined);

export function caseJson(row: CaseRow) {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    channel: row.channel,
    status: row.status,
    category: row.category,
    priority: row.priority,
    businessUnit: row.businessUnit,
    customerName: row.customerName,
    assigneeId: row.assigneeId,
    metadata: parseJson(row.metadata),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function alertJson(row: AlertRow) {
  return {
    id: row.id,
    title: row.title,
    message: row.message,
    severity: row.severity,
    status: row.status,
    businessUnit: row.businessUnit,
    caseId: row.caseId,
    acknowledgedBy: row.acknowledgedBy,
    acknowledgedAt: row.acknowledgedAt,
    resolvedAt: row.resolvedAt,
    metadata: parseJson(row.metadata),
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

export function feedJson(row: FeedRow) {
  return {
    id: row.id,
    kind: row.kind,
    title: row.title,
    body: row.body,
    priority: row.priority,
    businessUnit: row.businessUnit,
    expiresAt: row.expiresAt,
    createdAt: row.createdAt,
  };
}

export function uploadJson(row: UploadRow) {
  return {
    id: row.id,
    filename: row.filename,
    contentType: row.contentType,
    size: row.size,
    sha256: row.sha256,
    status: row.status,
    rowsImported: row.rowsImported,
    rowsRejected: row.rowsRejected,
    error: row.error,
    userId: row.userId,
    businessUnit: row.businessUnit,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
