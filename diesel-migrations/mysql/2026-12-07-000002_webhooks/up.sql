-- Webhooks, MySQL/MariaDB flavour: the tables and indexes of the SQLite migration
-- 2026-12-07-000007_webhooks (diesel-migrations/sqlite/), which says what each column
-- means; src/store/sql/schema.rs is the one diesel schema of every backend.
--
-- As in the first migration: InnoDB, utf8mb4_bin, a column in a key a VARCHAR as long
-- as its longest value (event names 32: the longest, conversation.transferred, is 24;
-- states 16), and each statement `CREATE TABLE IF NOT EXISTS` with its indexes inside,
-- so a migration cut short completes when run again.

CREATE TABLE IF NOT EXISTS webhooks (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    -- where each delivery is POSTed
    url TEXT NOT NULL,
    -- HMAC-SHA256 key deliveries are signed with
    secret TEXT NOT NULL,
    -- space-separated event names, in kefu's order
    events TEXT NOT NULL,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    -- the last 2xx answer; the last failed attempt, and when
    last_ok_at BIGINT,
    last_error TEXT,
    last_error_at BIGINT,
    KEY webhooks_by_site (site_id),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    webhook_id BIGINT NOT NULL,
    conversation_id BIGINT NOT NULL,
    -- the entry the event was read off, and the event's name
    off BIGINT NOT NULL,
    event VARCHAR(32) NOT NULL,
    -- the entry's commit time
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    -- 'pending', 'delivered' or 'failed'; next_at set only while pending
    state VARCHAR(16) NOT NULL,
    next_at BIGINT,
    -- the last attempt's HTTP status and error
    last_status BIGINT,
    last_error TEXT,
    UNIQUE KEY webhook_deliveries_by_event (webhook_id, conversation_id, off, event),
    KEY webhook_deliveries_due (state, next_at),
    KEY webhook_deliveries_by_webhook (webhook_id, id),
    KEY webhook_deliveries_by_conversation (conversation_id),
    FOREIGN KEY (webhook_id) REFERENCES webhooks (id),
    FOREIGN KEY (conversation_id) REFERENCES conversations (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
