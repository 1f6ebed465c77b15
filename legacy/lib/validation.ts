import { z } from "zod";

export const CHANNELS = ["email", "chat", "phone", "social", "web"] as const;
export const CASE_STATUSES = ["open", "in_progress", "resolved", "closed"] as const;
export const PRIORITIES = ["low", "medium", "high", "urgent"] as const;
export const SEVERITIES = ["info", "warning", "critical"] as const;
export const ALERT_STATUSES = ["active", "acknowledged", "resolved"] as const;
export const FEED_KINDS = ["case_update", "alert", "trend", "announcement"] as const;
export const SCOPES = ["all", "cases", "alerts", "feed"] as const;

export const businessUnit = z.string().min(1).max(64);
export const metadata = z.record(z.string(), z.unknown()).nullable();
export const positiveId = z.number().int().positive();

export const limitOffset = (max: number) => ({
  limit: z.coerce.number().int().min(1).max(max).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});
