-- JWT access tokens (RFC 9068) as a client's choice, with their own
-- (short) lifetime; 0 keeps the provider's.
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT 'opaque';
ALTER TABLE clients ADD COLUMN access_token_lifespan_seconds INTEGER NOT NULL DEFAULT 0;

-- JWT access tokens that were never stored (client_credentials) and were
-- revoked before they expire: introspection refuses them.
CREATE TABLE revoked_access_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX revoked_access_tokens_expires_at ON revoked_access_tokens (expires_at);
