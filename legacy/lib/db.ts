import Database from "better-sqlite3";
import { drizzle, type BetterSQLite3Database } from "drizzle-orm/better-sqlite3";
import * as schema from "./schema";

export type Db = BetterSQLite3Database<typeof schema>;

declare global {
  // eslint-disable-next-line no-var
  var __opsDb: { sqlite: Database.Database; db: Db } | undefined;
}

export function openSqlite(path: string): Database.Database {
  const sqlite = new Database(path);
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("busy_timeout = 5000");
  sqlite.pragma("foreign_keys = ON");
  return sqlite;
}

/** One connection per server process, opened on first use. */
function connection(): { sqlite: Database.Database; db: Db } {
  if (!globalThis.__opsDb) {
    const path = process.env.DATABASE_PATH;
    if (!path) throw new Error("DATABASE_PATH is not set");
    const sqlite = openSqlite(path);
    globalThis.__opsDb = { sqlite, db: drizzle(sqlite, { schema }) };
  }
  return globalThis.__opsDb;
}

export function getDb(): Db {
  return connection().db;
}

export function getSqlite(): Database.Database {
  return connection().sqlite;
}
