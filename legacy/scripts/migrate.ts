/** Applies the committed Drizzle migrations to the database at DATABASE_PATH. */
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import Database from "better-sqlite3";
import path from "node:path";

export const MIGRATIONS = path.join(__dirname, "..", "drizzle");

export function applyMigrations(sqlite: Database.Database): void {
  migrate(drizzle(sqlite), { migrationsFolder: MIGRATIONS });
}

if (require.main === module) {
  const file = process.env.DATABASE_PATH;
  if (!file) {
    console.error("DATABASE_PATH is not set");
    process.exit(2);
  }
  const sqlite = new Database(file);
  sqlite.pragma("foreign_keys = ON");
  applyMigrations(sqlite);
  sqlite.close();
  console.log(`migrated ${file}`);
}
