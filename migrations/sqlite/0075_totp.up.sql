-- TOTP authenticators (RFC 6238): at most one per user. The shared
-- secret is kept sealed (AES-GCM under a key derived from IDP_SECRET),
-- shown only while it is being set up; confirmed_at is set by the first
-- right code. last_step is the time step of the last code accepted: a
-- code of that step or an earlier one is refused (no replay).
CREATE TABLE totp_authenticators (
    user_id       TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_sealed TEXT NOT NULL,
    created_at    DATETIME NOT NULL,
    confirmed_at  DATETIME,
    last_step     BIGINT NOT NULL DEFAULT 0,
    last_used_at  DATETIME
);
-- The second factor a user last signed in with ("sms", "totp"): offered
-- first next time.
ALTER TABLE users ADD COLUMN last_factor TEXT NOT NULL DEFAULT '';
