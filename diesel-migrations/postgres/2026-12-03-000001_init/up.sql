-- kefu schema, PostgreSQL flavour: in one migration, the tables, columns and indexes the
-- SQLite migrations (diesel-migrations/sqlite/) end up with. See those files for what
-- each column means; src/store/sql/schema.rs is the one diesel schema of every backend.

CREATE TABLE sites (
    id BIGSERIAL PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    allowed_origins TEXT NOT NULL,
    transports TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    require_identity BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE agents (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, email)
);

CREATE TABLE agent_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    agent_id BIGINT NOT NULL REFERENCES agents (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX agent_tokens_by_agent ON agent_tokens (agent_id);

CREATE TABLE visitors (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, token)
);

CREATE TABLE conversations (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    visitor_id BIGINT NOT NULL REFERENCES visitors (id),
    epoch BIGINT NOT NULL,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    owner_agent_id BIGINT,
    owner_off BIGINT
);
CREATE INDEX conversations_by_visitor ON conversations (visitor_id, status);
CREATE INDEX conversations_by_site ON conversations (site_id, status);
CREATE INDEX conversations_by_status ON conversations (status);

-- The canonical log. One row per stream entry.
CREATE TABLE entries (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    off BIGINT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    sender TEXT NOT NULL,
    cid TEXT NOT NULL,
    body TEXT NOT NULL,
    ts BIGINT NOT NULL,
    meta TEXT,
    PRIMARY KEY (conversation_id, off),
    UNIQUE (cid, sender)
);

CREATE TABLE canned_responses (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    shortcut TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, shortcut)
);

CREATE TABLE invite_rules (
    id BIGSERIAL PRIMARY KEY,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    url_pattern TEXT NOT NULL,
    min_seconds BIGINT NOT NULL,
    min_visits BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX invite_rules_by_site ON invite_rules (site_id);

CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    url TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    beat_at BIGINT NOT NULL
);

CREATE TABLE site_leases (
    site_id BIGINT PRIMARY KEY NOT NULL REFERENCES sites (id),
    node_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX site_leases_by_node ON site_leases (node_id);
