-- Single-use links an operator hands to a user: an invitation to enrol a
-- first phone, a password reset. Only a hash of the link's secret is
-- kept; a new link of a kind replaces the user's old one.
CREATE TABLE user_links (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  DATETIME NOT NULL,
    expires_at  DATETIME NOT NULL,
    used_at     DATETIME
);
CREATE INDEX user_links_user_kind ON user_links (user_id, kind);

-- The link a flow was opened with: its steps check it is still unused,
-- and the last one uses it up.
ALTER TABLE login_flows ADD COLUMN link_id TEXT;
