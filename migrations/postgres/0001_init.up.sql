-- Users, their phones, relying-party clients and consents.
CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,
    locale         TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

-- One phone a user for now; verified_at is set by the first PIN typed on it
-- (or by the operator vouching for it).
CREATE TABLE phones (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    number       TEXT NOT NULL,
    verified_at  TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL DEFAULT '',
    secret_hash                TEXT NOT NULL DEFAULT '',
    public                     BOOLEAN NOT NULL DEFAULT FALSE,
    first_party                BOOLEAN NOT NULL DEFAULT FALSE,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL DEFAULT '[]',
    grant_types                TEXT NOT NULL,
    response_types             TEXT NOT NULL,
    scopes                     TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    created_at                 TIMESTAMPTZ NOT NULL
);

CREATE TABLE consents (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- A login in progress: the authorize request it answers, the browser that
-- began it, and how far it got (new -> password_ok -> mfa_ok -> done).
CREATE TABLE login_flows (
    id              TEXT PRIMARY KEY,
    client_id       TEXT NOT NULL,
    request_query   TEXT NOT NULL,
    browser_hash    TEXT NOT NULL,
    state           TEXT NOT NULL,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    challenge_id    TEXT,
    amr             TEXT NOT NULL DEFAULT '',
    auth_time       TIMESTAMPTZ,
    requested_at    TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_flows_expires_at ON login_flows (expires_at);

-- SMS challenges: only a keyed hash of the code is kept.
CREATE TABLE sms_challenges (
    id            TEXT PRIMARY KEY,
    flow_id       TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    phone         TEXT NOT NULL,
    code_hash     TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    resends       INTEGER NOT NULL DEFAULT 0,
    last_sent_at  TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    consumed_at   TIMESTAMPTZ,
    superseded    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX sms_challenges_flow_id ON sms_challenges (flow_id);
CREATE INDEX sms_challenges_expires_at ON sms_challenges (expires_at);

-- One row per SMS handed to a provider, so an operator can answer
-- "did the SMS go out?".
CREATE TABLE sms_deliveries (
    id                   TEXT PRIMARY KEY,
    challenge_id         TEXT NOT NULL,
    provider             TEXT NOT NULL,
    provider_message_id  TEXT NOT NULL DEFAULT '',
    status               TEXT NOT NULL,
    error                TEXT NOT NULL DEFAULT '',
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX sms_deliveries_challenge_id ON sms_deliveries (challenge_id);

-- Signing keys; the private half is encrypted with a key derived from
-- IDP_SECRET. A retired key stays published until retire_after.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    private_enc  TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    active       BOOLEAN NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    retired_at   TIMESTAMPTZ,
    publish_until TIMESTAMPTZ
);

-- fosite token storage: one table a kind, keyed by a hash of the signature.
CREATE TABLE oauth_authorize_codes (
    signature     TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    requested_at  TIMESTAMPTZ NOT NULL,
    client_id     TEXT NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    scopes        TEXT NOT NULL,
    granted_scopes TEXT NOT NULL,
    audience      TEXT NOT NULL,
    granted_audience TEXT NOT NULL,
    form_data     TEXT NOT NULL,
    session_data  TEXT NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX oauth_authorize_codes_request_id ON oauth_authorize_codes (request_id);
CREATE INDEX oauth_authorize_codes_expires_at ON oauth_authorize_codes (expires_at);

CREATE TABLE oauth_access_tokens (LIKE oauth_authorize_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_access_tokens ADD PRIMARY KEY (signature);
CREATE INDEX oauth_access_tokens_request_id ON oauth_access_tokens (request_id);
CREATE INDEX oauth_access_tokens_expires_at ON oauth_access_tokens (expires_at);

CREATE TABLE oauth_refresh_tokens (LIKE oauth_authorize_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_refresh_tokens ADD PRIMARY KEY (signature);
ALTER TABLE oauth_refresh_tokens ADD COLUMN access_signature TEXT NOT NULL DEFAULT '';
CREATE INDEX oauth_refresh_tokens_request_id ON oauth_refresh_tokens (request_id);
CREATE INDEX oauth_refresh_tokens_expires_at ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_pkce (LIKE oauth_authorize_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_pkce ADD PRIMARY KEY (signature);
CREATE INDEX oauth_pkce_request_id ON oauth_pkce (request_id);

CREATE TABLE oauth_oidc (LIKE oauth_authorize_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_oidc ADD PRIMARY KEY (signature);
CREATE INDEX oauth_oidc_request_id ON oauth_oidc (request_id);

-- client assertion ids already seen (private_key_jwt replay defence).
CREATE TABLE oauth_jti (
    jti         TEXT PRIMARY KEY,
    expires_at  TIMESTAMPTZ NOT NULL
);

-- At most one active key an algorithm: concurrent first starts cannot both
-- create one.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE active;
