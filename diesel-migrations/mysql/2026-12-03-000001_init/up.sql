-- kefu schema, MySQL/MariaDB flavour: in one migration, the tables, columns and indexes
-- the SQLite migrations (diesel-migrations/sqlite/) end up with. See those files for what
-- each column means; src/store/sql/schema.rs is the one diesel schema of every backend.
--
-- Every table is InnoDB in utf8mb4 with the binary collation utf8mb4_bin: tokens, cids,
-- keys and emails compare case-sensitively, as on the other backends (search alone
-- ignores case, by a collation of its own in the query). A column in a key is a VARCHAR
-- as long as the longest value kefu accepts: visitor tokens and cids 64 (server-made
-- cids `<kind>:<conv>:<off>` stay under 50), emails 320, shortcuts 32, token hashes 64
-- (hex SHA-256), node ids 64, senders (`v<id>`, `a<id>`, `kefu`) 21.
--
-- MySQL commits every DDL statement on its own, so a migration cut short is left half
-- applied: each statement here is `CREATE TABLE IF NOT EXISTS`, its indexes inside it,
-- so running the migration again completes it. (kefu runs migrations under a lock of its
-- own, store/sql/migrate.rs: two nodes never run one at the same time.)

CREATE TABLE IF NOT EXISTS sites (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `key` VARCHAR(64) NOT NULL,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    allowed_origins TEXT NOT NULL,
    transports TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    require_identity BOOLEAN NOT NULL DEFAULT FALSE,
    UNIQUE KEY sites_by_key (`key`)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS agents (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    email VARCHAR(320) NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY agents_by_email (site_id, email),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS agent_tokens (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    agent_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    KEY agent_tokens_by_agent (agent_id),
    FOREIGN KEY (agent_id) REFERENCES agents (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS visitors (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    token VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY visitors_by_token (site_id, token),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS conversations (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    visitor_id BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at BIGINT NOT NULL,
    owner_agent_id BIGINT,
    owner_off BIGINT,
    KEY conversations_by_visitor (visitor_id, status),
    KEY conversations_by_site (site_id, status),
    KEY conversations_by_status (status),
    FOREIGN KEY (site_id) REFERENCES sites (id),
    FOREIGN KEY (visitor_id) REFERENCES visitors (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The canonical log. One row per stream entry. MEDIUMTEXT: a body may be longer than
-- TEXT's 64 KiB when max_frame_bytes is raised.
CREATE TABLE IF NOT EXISTS entries (
    conversation_id BIGINT NOT NULL,
    off BIGINT NOT NULL,
    kind VARCHAR(16) NOT NULL,
    role VARCHAR(16) NOT NULL,
    sender VARCHAR(32) NOT NULL,
    cid VARCHAR(64) NOT NULL,
    body MEDIUMTEXT NOT NULL,
    ts BIGINT NOT NULL,
    meta MEDIUMTEXT,
    PRIMARY KEY (conversation_id, off),
    UNIQUE KEY entries_by_cid (cid, sender),
    FOREIGN KEY (conversation_id) REFERENCES conversations (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS canned_responses (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    shortcut VARCHAR(32) NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE KEY canned_by_shortcut (site_id, shortcut),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS invite_rules (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    site_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    url_pattern TEXT NOT NULL,
    min_seconds BIGINT NOT NULL,
    min_visits BIGINT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    KEY invite_rules_by_site (site_id),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS nodes (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    url TEXT NOT NULL,
    incarnation TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    beat_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS site_leases (
    site_id BIGINT NOT NULL PRIMARY KEY,
    node_id VARCHAR(64) NOT NULL,
    epoch BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    KEY site_leases_by_node (node_id),
    FOREIGN KEY (site_id) REFERENCES sites (id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
