ALTER TABLE agents DROP COLUMN removed_at;
