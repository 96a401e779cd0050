-- Browser sign-in sessions (SSO). The cookie holds a random token; only its
-- hash is kept. id is the sid claim of the ID tokens issued in the session.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr           TEXT NOT NULL,
    auth_time     DATETIME NOT NULL,
    mfa_time      DATETIME NOT NULL,
    created_at    DATETIME NOT NULL,
    last_seen_at  DATETIME NOT NULL,
    expires_at    DATETIME NOT NULL,
    revoked_at    DATETIME,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

ALTER TABLE login_flows ADD COLUMN session_id TEXT;

-- Tokens carry the session they were issued in, so logout can end them.
ALTER TABLE oauth_authorize_codes ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_access_tokens ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_refresh_tokens ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_pkce ADD COLUMN sid TEXT NOT NULL DEFAULT '';
ALTER TABLE oauth_oidc ADD COLUMN sid TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth_access_tokens_sid ON oauth_access_tokens (sid);
CREATE INDEX oauth_refresh_tokens_sid ON oauth_refresh_tokens (sid);
