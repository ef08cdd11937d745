-- Webhooks, PostgreSQL flavour: the tables and indexes of the SQLite migration
-- 2026-12-07-000007_webhooks (diesel-migrations/sqlite/), which says what each column
-- means; src/store/sql/schema.rs is the one diesel schema of every backend.

CREATE TABLE webhooks (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
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
    last_error_at BIGINT
);
CREATE INDEX webhooks_by_site ON webhooks (site_id);

CREATE TABLE webhook_deliveries (
    id BIGSERIAL PRIMARY KEY,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    -- the entry the event was read off, and the event's name
    off BIGINT NOT NULL,
    event TEXT NOT NULL,
    -- the entry's commit time
    created_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    -- 'pending', 'delivered' or 'failed'; next_at set only while pending
    state TEXT NOT NULL,
    next_at BIGINT,
    -- the last attempt's HTTP status and error
    last_status BIGINT,
    last_error TEXT,
    UNIQUE (webhook_id, conversation_id, off, event)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversation ON webhook_deliveries (conversation_id);
