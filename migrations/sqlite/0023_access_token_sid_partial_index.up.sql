-- Only tokens of a sign-in session are looked up by sid (to end them at
-- logout); service tokens (client_credentials) have none and need no entry,
-- which spares each of them an index write.
DROP INDEX oauth_access_tokens_sid;
CREATE INDEX oauth_access_tokens_sid ON oauth_access_tokens (sid) WHERE sid <> '';
