-- Sliding windows for the SMS send limits: one row per counted send and
-- limit key, so a limit holds over any hour or day, not per calendar hour.
-- amount is 1 for a count, or a price in millionths of the currency for
-- the daily budget. Keys are keyed hashes, or a number prefix (never a
-- whole number).
CREATE TABLE send_log (
    key      TEXT NOT NULL,
    send_id  TEXT NOT NULL,
    at       TIMESTAMPTZ NOT NULL,
    amount   BIGINT NOT NULL DEFAULT 1,
    PRIMARY KEY (key, send_id)
);
CREATE INDEX send_log_key_at ON send_log (key, at);
CREATE INDEX send_log_at ON send_log (at);
CREATE INDEX send_log_send_id ON send_log (send_id);

-- One row per key, locked by a send that counts under it: parallel sends
-- to one key queue there, so each counts what the others committed.
CREATE TABLE send_log_keys (
    key         TEXT PRIMARY KEY,
    touched_at  TIMESTAMPTZ NOT NULL
);

-- Sends held by the SMS-pumping guard (a country or number prefix whose
-- codes are not being verified) or by the daily budget, until an operator
-- lifts the hold (or, for the budget, the UTC day ends).
CREATE TABLE sms_holds (
    scope      TEXT PRIMARY KEY,
    reason     TEXT NOT NULL,
    sends      INTEGER NOT NULL DEFAULT 0,
    verified   INTEGER NOT NULL DEFAULT 0,
    held_at    TIMESTAMPTZ NOT NULL,
    lifted_at  TIMESTAMPTZ,
    lifted_by  TEXT NOT NULL DEFAULT ''
);

-- A challenge to a number its user has verified before: the pumping guard
-- never holds those (pumping needs fresh numbers).
ALTER TABLE sms_challenges ADD COLUMN known_number BOOLEAN NOT NULL DEFAULT FALSE;

-- Delivery receipts: the carrier's error code, and when the receipt came.
ALTER TABLE sms_deliveries ADD COLUMN error_code TEXT NOT NULL DEFAULT '';
ALTER TABLE sms_deliveries ADD COLUMN receipt_at TIMESTAMPTZ;
CREATE INDEX sms_deliveries_provider_message_id ON sms_deliveries (provider, provider_message_id);
