-- The audiences (client ids or resource server URIs) a client may ask
-- tokens for by token exchange (RFC 8693), a JSON list. The grant itself
-- is off unless the client has its grant type.
ALTER TABLE clients ADD COLUMN token_exchange_audiences TEXT NOT NULL DEFAULT '[]';
