-- Several nodes on one database (docs/deploy.md, "Several nodes"). Unused by a node
-- that runs alone (no node_id configured).

-- Every node of the cluster, heartbeating its row. A node is dead once its beat_at is
-- older than node_dead_beats × node_beat_ms.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY NOT NULL,
    -- the node's advertised base URL, where clients of its sites are sent
    url TEXT NOT NULL,
    -- random per start of the process: tells a node's own row from a clashing one
    incarnation TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    -- ms since the Unix epoch, by the node's clock
    beat_at BIGINT NOT NULL
);

-- Who serves each site: a lease with a fencing epoch. Every append checks, in its own
-- transaction, that its node still holds the lease of the entry's site at the epoch it
-- acquired; taking a lease over adds one to the epoch, so a stale node cannot write.
CREATE TABLE site_leases (
    site_id BIGINT PRIMARY KEY NOT NULL REFERENCES sites (id),
    -- the holder; '' once released
    node_id TEXT NOT NULL,
    epoch BIGINT NOT NULL,
    -- ms since the Unix epoch after which another node may take the lease over
    expires_at BIGINT NOT NULL
);
CREATE INDEX site_leases_by_node ON site_leases (node_id);
