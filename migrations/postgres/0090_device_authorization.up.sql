-- The device authorization grant (RFC 8628). A device asks for a device
-- code and a user code; the user types the user code on /device, signs
-- in (a login flow of purpose device, linked here) and allows or refuses;
-- the device polls the token endpoint until then. Only hashes of both
-- codes are kept: SHA-256 of the device code (256 random bits), an HMAC
-- under the system secret of the user code (too short for a plain hash).
-- polls versions the row, so two polls at once cannot both count as the
-- first; state is pending, approved, denied or used (tokens issued, under
-- request_id, which a replay of the device code revokes).
CREATE TABLE device_requests (
    id                TEXT PRIMARY KEY,
    device_code_hash  TEXT NOT NULL UNIQUE,
    user_code_hash    TEXT NOT NULL UNIQUE,
    client_id         TEXT NOT NULL REFERENCES clients (id) ON DELETE CASCADE,
    scopes            TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT 'pending',
    poll_interval     INTEGER NOT NULL,
    polls             INTEGER NOT NULL DEFAULT 0,
    last_polled_at    TIMESTAMPTZ,
    user_id           TEXT REFERENCES users (id) ON DELETE CASCADE,
    flow_id           TEXT,
    amr               TEXT NOT NULL DEFAULT '',
    acr               TEXT NOT NULL DEFAULT '',
    auth_time         TIMESTAMPTZ,
    granted_scopes    TEXT NOT NULL DEFAULT '',
    request_id        TEXT NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    decided_at        TIMESTAMPTZ,
    expires_at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX device_requests_expires_at ON device_requests (expires_at);

-- A login flow of purpose device answers one device request.
ALTER TABLE login_flows ADD COLUMN device_request_id TEXT REFERENCES device_requests (id) ON DELETE CASCADE;
