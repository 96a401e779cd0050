-- OpenID Connect Back-Channel and Front-Channel Logout 1.0: where each
-- client is told that a session ended.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required BOOLEAN NOT NULL DEFAULT 0;

-- The clients a session issued codes to: the RPs to tell when it ends.
CREATE TABLE session_clients (
    session_id  TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

-- The outbox of logout tokens: written in the transaction that ends the
-- session, delivered and retried by any instance (a row is claimed by a
-- conditional update), kept as the record of delivery until expires_at.
CREATE TABLE logout_deliveries (
    id               TEXT PRIMARY KEY,
    session_id       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    uri              TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME NOT NULL,
    last_status      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT NOT NULL DEFAULT '',
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    delivered_at     DATETIME,
    expires_at       DATETIME NOT NULL
);
CREATE INDEX logout_deliveries_due ON logout_deliveries (status, next_attempt_at);
CREATE INDEX logout_deliveries_expires_at ON logout_deliveries (expires_at);
