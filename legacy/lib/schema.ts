import { sql } from "drizzle-orm";
import { index, integer, primaryKey, real, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

/** ISO-8601 with milliseconds and Z, exactly what `Date.prototype.toISOString()` prints. */
const nowIso = sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`;

export const users = sqliteTable(
  "users",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    email: text("email").notNull(),
    name: text("name").notNull(),
    role: text("role", { enum: ["admin", "agent", "viewer"] }).notNull(),
    businessUnit: text("business_unit").notNull(),
    passwordHash: text("password_hash").notNull(),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [uniqueIndex("users_email_unique").on(t.email)],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    token: text("token").notNull(),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    expiresAt: text("expires_at").notNull(),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [uniqueIndex("sessions_token_unique").on(t.token), index("sessions_user_id_idx").on(t.userId)],
);

export const cases = sqliteTable(
  "cases",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    title: text("title").notNull(),
    description: text("description").notNull().default(""),
    channel: text("channel", { enum: ["email", "chat", "phone", "social", "web"] }).notNull(),
    status: text("status", { enum: ["open", "in_progress", "resolved", "closed"] })
      .notNull()
      .default("open"),
    category: text("category").notNull(),
    priority: text("priority", { enum: ["low", "medium", "high", "urgent"] })
      .notNull()
      .default("medium"),
    businessUnit: text("business_unit").notNull(),
    customerName: text("customer_name").notNull(),
    assigneeId: integer("assignee_id").references(() => users.id, { onDelete: "set null" }),
    metadata: text("metadata"),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [
    index("cases_assignee_id_idx").on(t.assigneeId),
    index("cases_business_unit_status_idx").on(t.businessUnit, t.status),
    index("cases_created_at_idx").on(t.createdAt),
  ],
);

export const alerts = sqliteTable(
  "alerts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    title: text("title").notNull(),
    message: text("message").notNull(),
    severity: text("severity", { enum: ["info", "warning", "critical"] }).notNull(),
    status: text("status", { enum: ["active", "acknowledged", "resolved"] })
      .notNull()
      .default("active"),
    businessUnit: text("business_unit").notNull(),
    caseId: integer("case_id").references(() => cases.id, { onDelete: "set null" }),
    acknowledgedBy: integer("acknowledged_by").references(() => users.id, { onDelete: "set null" }),
    acknowledgedAt: text("acknowledged_at"),
    resolvedAt: text("resolved_at"),
    metadata: text("metadata"),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [
    index("alerts_case_id_idx").on(t.caseId),
    index("alerts_acknowledged_by_idx").on(t.acknowledgedBy),
    index("alerts_business_unit_status_idx").on(t.businessUnit, t.status),
    index("alerts_created_at_idx").on(t.createdAt),
  ],
);

export const feedItems = sqliteTable(
  "feed_items",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind", { enum: ["case_update", "alert", "trend", "announcement"] }).notNull(),
    title: text("title").notNull(),
    body: text("body").notNull().default(""),
    priority: integer("priority").notNull().default(50),
    businessUnit: text("business_unit"),
    expiresAt: text("expires_at"),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [index("feed_items_priority_created_at_idx").on(t.priority, t.createdAt)],
);

export const searchAnalytics = sqliteTable(
  "search_analytics",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    query: text("query").notNull(),
    scope: text("scope").notNull(),
    resultCount: integer("result_count").notNull(),
    userId: integer("user_id").references(() => users.id, { onDelete: "set null" }),
    filters: text("filters").notNull().default("{}"),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [
    index("search_analytics_user_id_idx").on(t.userId),
    index("search_analytics_created_at_idx").on(t.createdAt),
  ],
);

export const uploads = sqliteTable(
  "uploads",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    filename: text("filename").notNull(),
    contentType: text("content_type").notNull(),
    size: integer("size").notNull(),
    sha256: text("sha256").notNull(),
    status: text("status", { enum: ["pending", "processed", "failed"] }).notNull().default("pending"),
    rowsImported: integer("rows_imported").notNull().default(0),
    rowsRejected: integer("rows_rejected").notNull().default(0),
    error: text("error"),
    userId: integer("user_id").references(() => users.id, { onDelete: "set null" }),
    businessUnit: text("business_unit").notNull(),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [index("uploads_user_id_idx").on(t.userId)],
);

export const trendingTopics = sqliteTable(
  "trending_topics",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    topic: text("topic").notNull(),
    score: real("score").notNull(),
    caseCount: integer("case_count").notNull(),
    sampleCaseIds: text("sample_case_ids").notNull().default("[]"),
    computedAt: text("computed_at").notNull().default(nowIso),
  },
  (t) => [uniqueIndex("trending_topics_topic_unique").on(t.topic)],
);

export const shares = sqliteTable(
  "shares",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    caseId: integer("case_id")
      .notNull()
      .references(() => cases.id, { onDelete: "cascade" }),
    sharedWith: text("shared_with").notNull(),
    note: text("note"),
    createdBy: integer("created_by").references(() => users.id, { onDelete: "set null" }),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [index("shares_case_id_idx").on(t.caseId), index("shares_created_by_idx").on(t.createdBy)],
);

export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind").notNull(),
    subjectType: text("subject_type").notNull(),
    subjectId: integer("subject_id"),
    actorId: integer("actor_id").references(() => users.id, { onDelete: "set null" }),
    payload: text("payload").notNull().default("{}"),
    businessUnit: text("business_unit"),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [
    index("events_subject_idx").on(t.subjectType, t.subjectId),
    index("events_actor_id_idx").on(t.actorId),
  ],
);

export const notifications = sqliteTable(
  "notifications",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    userId: integer("user_id")
      .notNull()
      .references(() => users.id, { onDelete: "cascade" }),
    kind: text("kind", { enum: ["assignment", "share"] }).notNull(),
    caseId: integer("case_id").references(() => cases.id, { onDelete: "cascade" }),
    actorId: integer("actor_id").references(() => users.id, { onDelete: "set null" }),
    message: text("message").notNull(),
    readAt: text("read_at"),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [
    index("notifications_user_id_idx").on(t.userId),
    index("notifications_case_id_idx").on(t.caseId),
    index("notifications_actor_id_idx").on(t.actorId),
  ],
);

export const chatMessages = sqliteTable(
  "chat_messages",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    caseId: integer("case_id")
      .notNull()
      .references(() => cases.id, { onDelete: "cascade" }),
    userId: integer("user_id").references(() => users.id, { onDelete: "set null" }),
    body: text("body").notNull(),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [index("chat_messages_case_id_idx").on(t.caseId), index("chat_messages_user_id_idx").on(t.userId)],
);

/**
 * Background work (POST /api/cases/{id}/summary): a row per job, claimed by the worker loop
 * (lib/jobs.ts) with one conditional UPDATE, so a job queued before a restart still runs.
 */
export const jobs = sqliteTable(
  "jobs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    kind: text("kind", { enum: ["case_summary"] }).notNull(),
    caseId: integer("case_id")
      .notNull()
      .references(() => cases.id, { onDelete: "cascade" }),
    requestedBy: integer("requested_by").references(() => users.id, { onDelete: "set null" }),
    status: text("status", { enum: ["queued", "running", "done", "failed"] }).notNull().default("queued"),
    result: text("result"),
    error: text("error"),
    createdAt: text("created_at").notNull().default(nowIso),
    updatedAt: text("updated_at").notNull().default(nowIso),
  },
  (t) => [index("jobs_status_idx").on(t.status, t.id), index("jobs_case_id_idx").on(t.caseId)],
);

/**
 * Signed webhook deliveries by Idempotency-Key: the unique key makes two concurrent
 * deliveries with one key insert one row (the loser answers the winner's answer).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    idempotencyKey: text("idempotency_key").notNull(),
    bodySha256: text("body_sha256").notNull(),
    status: integer("status").notNull(),
    answer: text("answer").notNull(),
    alertId: integer("alert_id").references(() => alerts.id, { onDelete: "set null" }),
    createdAt: text("created_at").notNull().default(nowIso),
  },
  (t) => [uniqueIndex("webhook_deliveries_key_unique").on(t.idempotencyKey)],
);

/** Rate-limit counters (lib/ratelimit.ts): requests per key in one clock-aligned window. */
export const rateLimits = sqliteTable(
  "rate_limits",
  {
    key: text("key").notNull(),
    windowStart: integer("window_start").notNull(),
    count: integer("count").notNull(),
  },
  (t) => [primaryKey({ columns: [t.key, t.windowStart] })],
);

export type User = typeof users.$inferSelect;
export type CaseRow = typeof cases.$inferSelect;
export type AlertRow = typeof alerts.$inferSelect;
export type FeedRow = typeof feedItems.$inferSelect;
export type UploadRow = typeof uploads.$inferSelect;
export type ShareRow = typeof shares.$inferSelect;
export type EventRow = typeof events.$inferSelect;
export type NotificationRow = typeof notifications.$inferSelect;
export type ChatMessageRow = typeof chatMessages.$inferSelect;
export type TrendingRow = typeof trendingTopics.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
