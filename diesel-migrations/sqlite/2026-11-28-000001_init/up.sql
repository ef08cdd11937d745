-- kefu schema, SQLite flavour. The same tables exist per backend under diesel-migrations/.

-- A site is a tenant: one website, its allowed origins and its agents.
CREATE TABLE sites (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- public key used by the widget's embed code
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- HMAC secret for verified visitor identities
    secret TEXT NOT NULL,
    -- space-separated origins allowed to open the widget; '*' allows any
    allowed_origins TEXT NOT NULL,
    -- space-separated transports this site allows: ws lp xdr jsonp
    transports TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE agents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    -- 'admin' or 'agent'
    role TEXT NOT NULL,
    -- argon2id PHC string
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, email)
);

-- A visitor row is written only once the visitor has a conversation.
CREATE TABLE visitors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    -- the visitor's bearer token, kept by the widget
    token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, token)
);

CREATE TABLE conversations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    visitor_id BIGINT NOT NULL REFERENCES visitors (id),
    -- random non-zero 32-bit number: the life of this stream
    epoch BIGINT NOT NULL,
    -- 'open' or 'closed'
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX conversations_by_visitor ON conversations (visitor_id, status);

-- The canonical log. One row per stream entry.
CREATE TABLE entries (
    conversation_id BIGINT NOT NULL REFERENCES conversations (id),
    -- 1, 2, 3 ... with no holes within a conversation
    off BIGINT NOT NULL,
    kind TEXT NOT NULL,
    role TEXT NOT NULL,
    -- 'v<visitor id>' or 'a<agent id>'
    sender TEXT NOT NULL,
    -- client-made message id: a resend with the same (cid, sender) is stored once
    cid TEXT NOT NULL,
    body TEXT NOT NULL,
    -- commit time, ms since the Unix epoch
    ts BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, off),
    UNIQUE (cid, sender)
);
