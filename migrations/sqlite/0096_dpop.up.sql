-- DPoP (RFC 9449): a client may be made to bind every access token to
-- its key (dpop_bound_access_tokens, RFC 9449 section 5.2).
ALTER TABLE clients ADD COLUMN dpop_bound_access_tokens BOOLEAN NOT NULL DEFAULT 0;

-- The proofs seen, each accepted once (section 11.1), until they are too
-- old to be accepted anyway.
CREATE TABLE dpop_proofs (
    id          TEXT PRIMARY KEY,
    expires_at  DATETIME NOT NULL
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);
