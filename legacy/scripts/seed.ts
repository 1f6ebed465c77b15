/**
 * Deterministic seed: the same arguments give a byte-identical database file.
 *
 *   DATABASE_PATH=./data/dev.db npm run seed -- [--seed 42] [--cases 300] [--alerts 240] [--feed 60] [--force]
 */
import Database from "better-sqlite3";
import bcrypt from "bcryptjs";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { endOfDay } from "../lib/asof";
import { computeTopics, storeTopics } from "../lib/trending";
import { applyMigrations } from "./migrate";

const ANCHOR = Date.parse("2026-01-01T00:00:00.000Z");
const HOUR = 3600 * 1000;
const UNITS = ["retail", "enterprise", "smb"] as const;
const CHANNELS = ["email", "chat", "phone", "social", "web"];
const CASE_STATUSES = ["open", "in_progress", "resolved", "closed"];
const PRIORITIES = ["low", "medium", "high", "urgent"];
const SEVERITIES = ["info", "warning", "critical"];
const FEED_KINDS = ["case_update", "alert", "trend", "announcement"];
const CATEGORIES = ["billing", "shipping", "technical", "account", "returns", "onboarding"];
const FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Linus", "Margaret", "Donald"];
const LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Hamilton", "Knuth"];
const SUBJECTS = ["Refund", "Invoice", "Delivery", "Password", "Login", "Upgrade", "Outage", "Billing", "Router", "Shipment", "Crash", "Latency", "Export", "Payment"];
const PROBLEMS = ["delayed", "failed", "missing", "duplicated", "incorrect", "blocked", "slow", "broken", "stuck", "rejected"];
const WORDS = ["customer", "reports", "cannot", "access", "account", "after", "update", "order", "arrived", "damaged", "charged", "twice", "card", "email", "confirmation", "never", "received", "application", "timeout", "during", "checkout", "warehouse", "courier", "tracking", "number", "invalid", "escalate", "priority", "café", "naïve", "résumé", "Zürich", "北京", "données"];

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "42" },
    cases: { type: "string", default: "300" },
    alerts: { type: "string", default: "240" },
    feed: { type: "string", default: "60" },
    force: { type: "boolean", default: false },
  },
});

const file = process.env.DATABASE_PATH;
if (!file) {
  console.error("DATABASE_PATH is not set");
  process.exit(2);
}
const counts = { cases: Number(values.cases), alerts: Number(values.alerts), feed: Number(values.feed) };
const seed = Number(values.seed);
for (const [name, value] of Object.entries({ seed, ...counts })) {
  if (!Number.isInteger(value) || value < 0) {
    console.error(`--${name} must be a non-negative integer`);
    process.exit(2);
  }
}
if (fs.existsSync(file) && fs.statSync(file).size > 0) {
  if (!values.force) {
    console.error(`${file} is not empty; pass --force to replace it`);
    process.exit(2);
  }
  for (const suffix of ["", "-wal", "-shm", "-journal"]) fs.rmSync(file + suffix, { force: true });
}
fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });

const rand = mulberry32(seed);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)];
const int = (min: number, max: number) => min + Math.floor(rand() * (max - min + 1));
const iso = (ms: number) => new Date(ms).toISOString();
const BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const salt = () => "$2b$10$" + Array.from({ length: 22 }, () => pick(BCRYPT_ALPHABET.split(""))).join("");
const sentence = (n: number) => Array.from({ length: n }, () => pick(WORDS)).join(" ");

const sqlite = new Database(file);
sqlite.pragma("journal_mode = DELETE");
sqlite.pragma("foreign_keys = ON");
applyMigrations(sqlite);

interface SeedUser { id: number; role: string; unit: string }
const users: SeedUser[] = [];

sqlite.transaction(() => {
  const insertUser = sqlite.prepare(
    `INSERT INTO users (email, name, role, business_unit, password_hash, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const addUser = (email: string, name: string, role: string, unit: string, password: string) => {
    const at = iso(ANCHOR - 400 * 24 * HOUR);
    const info = insertUser.run(email, name, role, unit, bcrypt.hashSync(password, salt()), at, at);
    users.push({ id: Number(info.lastInsertRowid), role, unit });
  };
  addUser("admin@example.test", "Avery Admin", "admin", "retail", "parity-admin");
  for (const unit of UNITS) addUser(`agent.${unit}@example.test`, `Agent ${unit}`, "agent", unit, "parity-agent");
  for (const unit of UNITS) addUser(`viewer.${unit}@example.test`, `Viewer ${unit}`, "viewer", unit, "parity-viewer");

  const insertCase = sqlite.prepare(
    `INSERT INTO cases (title, description, channel, status, category, priority, business_unit, customer_name,
       assignee_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const caseUnits: string[] = [];
  for (let i = 0; i < counts.cases; i++) {
    const unit = pick(UNITS);
    const created = ANCHOR - int(1, 24 * 90) * HOUR;
    const updated = rand() < 0.5 ? created : created + int(0, 48) * HOUR;
    const assignable = users.filter((u) => u.unit === unit && u.role !== "viewer");
    const assignee = rand() < 0.4 ? pick(assignable).id : null;
    const metadata = rand() < 0.5 ? JSON.stringify({ source: "seed", tags: [pick(WORDS), pick(WORDS)], score: int(1, 5) }) : null;
    insertCase.run(
      `${pick(SUBJECTS)} ${pick(PROBLEMS)} for ${pick(LAST)}`,
      sentence(int(4, 16)),
      pick(CHANNELS),
      pick(CASE_STATUSES),
      pick(CATEGORIES),
      pick(PRIORITIES),
      unit,
      `${pick(FIRST)} ${pick(LAST)}`,
      assignee,
      metadata,
      iso(created),
      iso(Math.min(updated, ANCHOR)),
    );
    caseUnits.push(unit);
  }

  const insertAlert = sqlite.prepare(
    `INSERT INTO alerts (title, message, severity, status, business_unit, case_id, acknowledged_by, acknowledged_at,
       resolved_at, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (let i = 0; i < counts.alerts; i++) {
    const unit = pick(UNITS);
    const created = ANCHOR - int(1, 24 * 60) * HOUR;
    let caseId: number | null = null;
    if (counts.cases > 0 && rand() < 0.5) {
      const candidates = caseUnits.map((u, index) => (u === unit ? index + 1 : 0)).filter(Boolean);
      if (candidates.length) caseId = pick(candidates);
    }
    const roll = rand();
    const status = roll < 0.6 ? "active" : roll < 0.85 ? "acknowledged" : "resolved";
    const agent = users.find((u) => u.unit === unit && u.role === "agent");
    const ackBy = status === "active" ? null : agent?.id ?? null;
    const ackAt = status === "active" ? null : iso(created + HOUR);
    const resolvedAt = status === "resolved" ? iso(created + 2 * HOUR) : null;
    const metadata = rand() < 0.4 ? JSON.stringify({ source: "monitor", threshold: int(50, 99) }) : null;
    insertAlert.run(
      `${pick(SUBJECTS)} ${pick(PROBLEMS)} in ${unit}`,
      sentence(int(5, 14)),
      pick(SEVERITIES),
      status,
      unit,
      caseId,
      ackBy,
      ackAt,
      resolvedAt,
      metadata,
      iso(created),
      resolvedAt ?? ackAt ?? iso(created),
    );
  }

  const insertFeed = sqlite.prepare(
    `INSERT INTO feed_items (kind, title, body, priority, business_unit, expires_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  for (let i = 0; i < counts.feed; i++) {
    const created = ANCHOR - int(1, 24 * 30) * HOUR;
    const roll = rand();
    const expires = roll < 0.25 ? iso(Date.parse("2025-06-01T00:00:00.000Z") + int(0, 2000) * HOUR) : roll < 0.55 ? iso(Date.parse("2099-01-01T00:00:00.000Z") + int(0, 2000) * HOUR) : null;
    insertFeed.run(
      FEED_KINDS[i % FEED_KINDS.length],
      `${pick(SUBJECTS)} ${pick(PROBLEMS)}`,
      sentence(int(3, 12)),
      int(0, 10) * 10,
      rand() < 0.2 ? null : pick(UNITS),
      expires,
      iso(created),
      iso(created),
    );
  }

  // Inbox, escalations and chat (issue 16), derived from the rows above without further
  // PRNG draws: the fifth and sixth cases of each unit are escalated to the admin (notified:
  // notifications 1-6), the first four cases of each unit are shared with the unit's viewer
  // (notifications 7-18) and carry a short chat; then each case assigned to an agent
  // notifies that agent (every third notification read).
  const caseRows = sqlite
    .prepare("SELECT id, title, business_unit AS unit, assignee_id AS assignee, created_at AS created FROM cases ORDER BY id")
    .all() as { id: number; title: string; unit: string; assignee: number | null; created: string }[];
  const byEmail = (email: string) => (sqlite.prepare("SELECT id, name FROM users WHERE email = ?").get(email) as { id: number; name: string });
  const admin = byEmail("admin@example.test");
  const insertNotification = sqlite.prepare(
    `INSERT INTO notifications (user_id, kind, case_id, actor_id, message, read_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertShare = sqlite.prepare(
    `INSERT INTO shares (case_id, shared_with, note, created_by, created_at) VALUES (?, ?, ?, ?, ?)`,
  );
  const insertChat = sqlite.prepare(`INSERT INTO chat_messages (case_id, user_id, body, created_at) VALUES (?, ?, ?, ?)`);
  for (const unit of UNITS) {
    const agent = byEmail(`agent.${unit}@example.test`);
    for (const c of caseRows.filter((row) => row.unit === unit).slice(4, 6)) {
      const at = iso(Date.parse(c.created) + 3 * HOUR);
      insertShare.run(c.id, "admin@example.test", "Needs an admin decision", agent.id, at);
      insertNotification.run(admin.id, "share", c.id, agent.id, `${agent.name} shared case #${c.id}: ${c.title}`, null, at);
    }
  }
  for (const unit of UNITS) {
    const agent = byEmail(`agent.${unit}@example.test`);
    const viewer = byEmail(`viewer.${unit}@example.test`);
    const own = caseRows.filter((c) => c.unit === unit).slice(0, 4);
    for (const [index, c] of own.entries()) {
      const at = iso(Date.parse(c.created) + 3 * HOUR);
      insertShare.run(c.id, `viewer.${unit}@example.test`, index % 2 ? null : "Please review, the customer escalated", agent.id, at);
      insertNotification.run(viewer.id, "share", c.id, agent.id, `${agent.name} shared case #${c.id}: ${c.title}`, null, at);
      for (let m = 0; m <= index % 3; m++) {
        insertChat.run(c.id, m % 2 ? admin.id : agent.id, m % 2 ? "Noted, \"escalating\" now" : `Customer called again, line ${m + 1}`, iso(Date.parse(c.created) + (4 + m) * HOUR));
      }
    }
  }
  let assigned = 0;
  for (const c of caseRows) {
    if (c.assignee === null || c.assignee === admin.id) continue;
    const at = iso(Date.parse(c.created) + HOUR);
    const read = assigned % 3 === 2 ? iso(Date.parse(c.created) + 2 * HOUR) : null;
    insertNotification.run(c.assignee, "assignment", c.id, admin.id, `${admin.name} assigned you case #${c.id}: ${c.title}`, read, at);
    assigned++;
  }
})();

// The stored trending topics, as POST /api/trending/compute with {} stores them (asOf = the
// end of the newest case's UTC day)
const latest = (sqlite.prepare("SELECT max(created_at) AS at FROM cases").get() as { at: string | null }).at;
if (latest) {
  const db = drizzle(sqlite);
  storeTopics(db, computeTopics(db, endOfDay(latest), 7), endOfDay(latest));
}

sqlite.exec("VACUUM");
sqlite.close();
console.log(`seeded ${file}: seed ${seed}, ${users.length} users, ${counts.cases} cases, ${counts.alerts} alerts, ${counts.feed} feed items`);
