DROP INDEX conversations_by_status;
DROP INDEX conversations_by_site;
ALTER TABLE conversations DROP COLUMN owner_off;
ALTER TABLE conversations DROP COLUMN owner_agent_id;
-- Rewritten cids stay in their scoped form: the old ones collided.
