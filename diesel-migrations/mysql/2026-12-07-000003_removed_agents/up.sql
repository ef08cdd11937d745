-- Removed agents, MySQL/MariaDB flavour: the column of the SQLite migration
-- 2026-12-07-000008_removed_agents (diesel-migrations/sqlite/), which says what it
-- means; src/store/sql/schema.rs is the one diesel schema of every backend.
--
-- As in the first migration, written to be run again (MySQL commits the ALTER on its
-- own, before the migration is recorded). MySQL has no `ADD COLUMN IF NOT EXISTS`
-- (MariaDB alone does), so the ALTER is run only when information_schema does not list
-- the column yet.

SET @kefu_removed_at = (
    SELECT IF(COUNT(*) = 0, 'ALTER TABLE agents ADD COLUMN removed_at BIGINT', 'DO 0')
    FROM information_schema.columns
    WHERE table_schema = DATABASE() AND table_name = 'agents' AND column_name = 'removed_at'
);
PREPARE kefu_removed_at FROM @kefu_removed_at;
EXECUTE kefu_removed_at;
DEALLOCATE PREPARE kefu_removed_at;
