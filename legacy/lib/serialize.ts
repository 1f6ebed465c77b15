import type {
  AlertRow,
  CaseRow,
  ChatMessageRow,
  EventRow,
  FeedRow,
  NotificationRow,
  ShareRow,
  TrendingRow,
  UploadRow,
} from "./schema";

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

export function eventJson(row: EventRow) {
  return {
    id: row.id,
    kind: row.kind,
    subjectType: row.subjectType,
    subjectId: row.subjectId,
    actorId: row.actorId,
    payload: JSON.parse(row.payload) as unknown,
    businessUnit: row.businessUnit,
    createdAt: row.createdAt,
  };
}

export function shareJson(row: ShareRow) {
  return {
    id: row.id,
    caseId: row.caseId,
    sharedWith: row.sharedWith,
    note: row.note,
    createdBy: row.createdBy,
    createdAt: row.createdAt,
  };
}

export function notificationJson(row: NotificationRow) {
  return {
    id: row.id,
    kind: row.kind,
    caseId: row.caseId,
    actorId: row.actorId,
    message: row.message,
    readAt: row.readAt,
    createdAt: row.createdAt,
  };
}

export function chatJson(row: ChatMessageRow) {
  return {
    id: row.id,
    caseId: row.caseId,
    userId: row.userId,
    body: row.body,
    createdAt: row.createdAt,
  };
}

export function trendingJson(row: TrendingRow) {
  return {
    id: row.id,
    topic: row.topic,
    score: row.score,
    caseCount: row.caseCount,
    sampleCaseIds: JSON.parse(row.sampleCaseIds) as number[],
    computedAt: row.computedAt,
  };
}
