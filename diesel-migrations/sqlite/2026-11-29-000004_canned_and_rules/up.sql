-- Canned responses: texts an agent inserts by shortcut. One set per site.
CREATE TABLE canned_responses (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    -- what the agent types after '/': a-z 0-9 - _
    shortcut TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (site_id, shortcut)
);

-- Automatic invitation rules: a visitor matching one is invited without an agent clicking.
CREATE TABLE invite_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    site_id BIGINT NOT NULL REFERENCES sites (id),
    name TEXT NOT NULL,
    -- page URL pattern: '*' matches any run of characters; empty matches every page
    url_pattern TEXT NOT NULL,
    -- seconds on the current page before inviting
    min_seconds BIGINT NOT NULL,
    -- visits the widget counted for the browser
    min_visits BIGINT NOT NULL,
    -- the invitation's text
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX invite_rules_by_site ON invite_rules (site_id);
