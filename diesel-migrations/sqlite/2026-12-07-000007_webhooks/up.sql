-- Webhooks (docs/operations.md, "Webhooks"): the endpoints a site's events are POSTed
-- to, and the durable outbox of their deliveries. A delivery is written by the append
-- that commits its entry, in the same transaction, so no event is lost between the log
-- and the outbox.

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    -- http:// or https://, where each delivery is POSTed
    url TEXT NOT NULL,
    -- HMAC-SHA256 key deliveries are signed with
    secret TEXT NOT NULL,
    -- space-separated events it is sent, in kefu's order: conversation.opened
    -- conversation.assigned conversation.transferred conversation.closed
    -- conversation.reopened message.created offline_message.left
    events TEXT NOT NULL,
    -- its deliveries wait (and keep being recorded) until it is resumed
    paused BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    -- the last time it answered 2xx
    last_ok_at BIGINT,
    -- the last attempt that failed, and when (kept after later successes)
    last_error TEXT,
    last_error_at BIGINT
);
CREATE INDEX webhooks_by_site ON webhooks (site_id);

-- The outbox: one row per event of an entry, per webhook of its site that takes it.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id BIGINT NOT NULL REFERENCES webhooks (id),
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    -- the offset of the entry the event was read off
    off BIGINT NOT NULL,
    -- the event's name, e.g. 'message.created'
    event TEXT NOT NULL,
    -- the entry's commit time, ms since the Unix epoch
    created_at BIGINT NOT NULL,
    -- attempts made so far
    attempts BIGINT NOT NULL,
    -- 'pending', 'delivered' or 'failed'
    state TEXT NOT NULL,
    -- when the next attempt is due; set only while pending
    next_at BIGINT,
    -- the last attempt's HTTP status, if it got one, and what went wrong, if anything
    last_status BIGINT,
    last_error TEXT,
    UNIQUE (webhook_id, conversation_id, off, event)
);
-- The deliveries due (state = 'pending', by next_at), each webhook's deliveries newest
-- first, and those of the conversations a visitor's deletion removes.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
CREATE INDEX webhook_deliveries_by_conversation ON webhook_deliveries (conversation_id);
