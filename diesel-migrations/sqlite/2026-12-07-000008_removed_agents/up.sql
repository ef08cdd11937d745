-- An admin may remove an agent account. Its row stays, so the history keeps naming it,
-- but it can no longer sign in or use a token, and it no longer counts as an admin.
-- When it was removed, ms since the Unix epoch; NULL while the account is active.
ALTER TABLE agents ADD COLUMN removed_at BIGINT;
