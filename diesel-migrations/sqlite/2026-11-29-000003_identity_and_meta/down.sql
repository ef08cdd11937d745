ALTER TABLE entries DROP COLUMN meta;
ALTER TABLE sites DROP COLUMN require_identity;
