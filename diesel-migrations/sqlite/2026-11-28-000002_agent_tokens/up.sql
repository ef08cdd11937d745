-- Agent sign-in tokens. Only a SHA-256 of each token is kept.
CREATE TABLE agent_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    agent_id BIGINT NOT NULL REFERENCES agents (id),
    created_at BIGINT NOT NULL,
    -- ms since the Unix epoch after which the token is refused
    expires_at BIGINT NOT NULL,
    -- set when the agent logs out (or an admin revokes it)
    revoked_at BIGINT
);
CREATE INDEX agent_tokens_by_agent ON agent_tokens (agent_id);
