-- Removed accounts become active again (the tokens their removal revoked stay revoked).
ALTER TABLE agents DROP COLUMN removed_at;
