-- Passwordless sign-in (IDP_PASSKEY_PASSWORDLESS): its WebAuthn ceremony
-- belongs to a flow before any user is known, so user_id may be NULL.
-- SQLite cannot drop a NOT NULL: the table is made anew (ceremonies live
-- minutes; those under way are kept).
CREATE TABLE webauthn_ceremonies_new (
    id         TEXT PRIMARY KEY,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    expires_at DATETIME NOT NULL
);
INSERT INTO webauthn_ceremonies_new (id, user_id, data, expires_at)
    SELECT id, user_id, data, expires_at FROM webauthn_ceremonies;
DROP TABLE webauthn_ceremonies;
ALTER TABLE webauthn_ceremonies_new RENAME TO webauthn_ceremonies;
