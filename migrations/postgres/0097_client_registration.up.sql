-- Dynamic client registration (RFC 7591, 7592): a client that registered
-- itself manages its registration with its own registration access
-- token, kept here as a SHA-256 hash (the token is 256 random bits).
-- Clients the operator made have none ('') and cannot be managed so.
ALTER TABLE clients ADD COLUMN registration_token_hash TEXT NOT NULL DEFAULT '';
