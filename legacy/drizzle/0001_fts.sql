-- Full-text search: FTS5 external-content tables kept in step by triggers, so every
-- stack writing to this database (the Next.js service, the FastAPI port) keeps them right.
CREATE VIRTUAL TABLE `cases_fts` USING fts5(title, description, category, customer_name, content='cases', content_rowid='id', tokenize='unicode61');
--> statement-breakpoint
CREATE TRIGGER `cases_fts_ai` AFTER INSERT ON `cases` BEGIN
  INSERT INTO cases_fts(rowid, title, description, category, customer_name) VALUES (new.id, new.title, new.description, new.category, new.customer_name);
END;
--> statement-breakpoint
CREATE TRIGGER `cases_fts_ad` AFTER DELETE ON `cases` BEGIN
  INSERT INTO cases_fts(cases_fts, rowid, title, description, category, customer_name) VALUES ('delete', old.id, old.title, old.description, old.category, old.customer_name);
END;
--> statement-breakpoint
CREATE TRIGGER `cases_fts_au` AFTER UPDATE ON `cases` BEGIN
  INSERT INTO cases_fts(cases_fts, rowid, title, description, category, customer_name) VALUES ('delete', old.id, old.title, old.description, old.category, old.customer_name);
  INSERT INTO cases_fts(rowid, title, description, category, customer_name) VALUES (new.id, new.title, new.description, new.category, new.customer_name);
END;
--> statement-breakpoint
CREATE VIRTUAL TABLE `alerts_fts` USING fts5(title, message, content='alerts', content_rowid='id', tokenize='unicode61');
--> statement-breakpoint
CREATE TRIGGER `alerts_fts_ai` AFTER INSERT ON `alerts` BEGIN
  INSERT INTO alerts_fts(rowid, title, message) VALUES (new.id, new.title, new.message);
END;
--> statement-breakpoint
CREATE TRIGGER `alerts_fts_ad` AFTER DELETE ON `alerts` BEGIN
  INSERT INTO alerts_fts(alerts_fts, rowid, title, message) VALUES ('delete', old.id, old.title, old.message);
END;
--> statement-breakpoint
CREATE TRIGGER `alerts_fts_au` AFTER UPDATE ON `alerts` BEGIN
  INSERT INTO alerts_fts(alerts_fts, rowid, title, message) VALUES ('delete', old.id, old.title, old.message);
  INSERT INTO alerts_fts(rowid, title, message) VALUES (new.id, new.title, new.message);
END;
--> statement-breakpoint
CREATE VIRTUAL TABLE `feed_fts` USING fts5(title, body, content='feed_items', content_rowid='id', tokenize='unicode61');
--> statement-breakpoint
CREATE TRIGGER `feed_fts_ai` AFTER INSERT ON `feed_items` BEGIN
  INSERT INTO feed_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
--> statement-breakpoint
CREATE TRIGGER `feed_fts_ad` AFTER DELETE ON `feed_items` BEGIN
  INSERT INTO feed_fts(feed_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
END;
--> statement-breakpoint
CREATE TRIGGER `feed_fts_au` AFTER UPDATE ON `feed_items` BEGIN
  INSERT INTO feed_fts(feed_fts, rowid, title, body) VALUES ('delete', old.id, old.title, old.body);
  INSERT INTO feed_fts(rowid, title, body) VALUES (new.id, new.title, new.body);
END;
