-- Browsers a user trusted ("don't ask for a code on this browser"), when
-- the operator offers it. The browser's cookie holds a random token; only
-- its hash is kept, bound to the one user who trusted the browser.
CREATE TABLE trusted_devices (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    last_used_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    user_agent    TEXT NOT NULL DEFAULT '',
    ip            TEXT NOT NULL DEFAULT ''
);
CREATE INDEX trusted_devices_user_id ON trusted_devices (user_id);
