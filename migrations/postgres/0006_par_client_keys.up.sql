-- Pushed authorization requests (RFC 9126): the pushed parameters, kept
-- until used once or expired; the key is a hash of the request_uri.
CREATE TABLE oauth_par (
    request_uri_hash  TEXT PRIMARY KEY,
    client_id         TEXT NOT NULL,
    form_data         TEXT NOT NULL,
    requested_at      TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_par_expires_at ON oauth_par (expires_at);

-- Client settings: PAR required; a JWKS for private_key_jwt client
-- authentication (RFC 7523); the ID token signing algorithm.
ALTER TABLE clients ADD COLUMN require_par BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';
