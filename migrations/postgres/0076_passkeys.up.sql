-- Passkeys (WebAuthn credentials): several per user. credential_id is the
-- authenticator's id (base64url); public_key the COSE key it registered.
-- sign_count is the last signature counter seen: a counter that does not
-- grow past it (when it is not 0) sets clone_warning. The flags are those
-- of the last ceremony; name is the user's own label.
CREATE TABLE passkeys (
    credential_id      TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name               TEXT NOT NULL DEFAULT '',
    public_key         BYTEA NOT NULL,
    sign_count         BIGINT NOT NULL DEFAULT 0,
    clone_warning      BOOLEAN NOT NULL DEFAULT FALSE,
    transports         TEXT NOT NULL DEFAULT '',
    aaguid             TEXT NOT NULL DEFAULT '',
    attestation_type   TEXT NOT NULL DEFAULT '',
    attestation_format TEXT NOT NULL DEFAULT '',
    user_verified      BOOLEAN NOT NULL DEFAULT FALSE,
    backup_eligible    BOOLEAN NOT NULL DEFAULT FALSE,
    backup_state       BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         TIMESTAMPTZ NOT NULL,
    last_used_at       TIMESTAMPTZ
);
CREATE INDEX passkeys_user_id ON passkeys (user_id);
-- A WebAuthn ceremony under way (its challenge and options), kept on the
-- server: id names what it belongs to ("login:<flow>", "register:<session>"),
-- one at a time; it is taken (deleted) by the answer that uses it, once.
CREATE TABLE webauthn_ceremonies (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
