-- Removed agents, PostgreSQL flavour: the column of the SQLite migration
-- 2026-12-07-000008_removed_agents (diesel-migrations/sqlite/), which says what it
-- means; src/store/sql/schema.rs is the one diesel schema of every backend.

-- when an admin removed the account, ms since the Unix epoch; NULL while it is active
ALTER TABLE agents ADD COLUMN removed_at BIGINT;
