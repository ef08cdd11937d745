-- Server-made cids name their conversation, so they can never collide with an entry of
-- another conversation or of an earlier run: a read is 'read:<conv>:<upto>', every other
-- server-made entry '<prefix>:<conv>:<off>'. Client cids cannot contain ':', so only
-- server-made ones are rewritten. No entry is added or removed.
UPDATE entries
   SET cid = 'read:' || conversation_id || ':' || COALESCE(json_extract(meta, '$.upto'), off)
 WHERE kind = 'read' AND instr(cid, ':') > 0;
UPDATE entries
   SET cid = substr(cid, 1, instr(cid, ':') - 1) || ':' || conversation_id || ':' || off
 WHERE kind <> 'read' AND instr(cid, ':') > 0;

-- Who owns each open conversation, kept in step with the log: the author of the last
-- 'join', 'transfer' or 'reopen' entry, unless a 'close' came after it. owner_off is the
-- offset of that entry.
ALTER TABLE conversations ADD COLUMN owner_agent_id BIGINT;
ALTER TABLE conversations ADD COLUMN owner_off BIGINT;
UPDATE conversations
   SET owner_off = (SELECT e.off FROM entries e
                     WHERE e.conversation_id = conversations.id
                       AND e.kind IN ('join', 'transfer', 'reopen', 'close')
                     ORDER BY e.off DESC LIMIT 1)
 WHERE status = 'open';
UPDATE conversations
   SET owner_agent_id = (SELECT CAST(substr(e.sender, 2) AS INTEGER) FROM entries e
                          WHERE e.conversation_id = conversations.id AND e.off = conversations.owner_off
                            AND e.kind <> 'close' AND e.sender LIKE 'a%')
 WHERE owner_off IS NOT NULL;
-- A conversation whose last desk entry is a close is closed, whatever its row said.
UPDATE conversations SET status = 'closed'
 WHERE status = 'open' AND owner_off IS NOT NULL AND owner_agent_id IS NULL
   AND EXISTS (SELECT 1 FROM entries e WHERE e.conversation_id = conversations.id
                AND e.off = conversations.owner_off AND e.kind = 'close');
UPDATE conversations SET owner_off = NULL WHERE owner_agent_id IS NULL;

CREATE INDEX conversations_by_site ON conversations (site_id, status);
CREATE INDEX conversations_by_status ON conversations (status);
