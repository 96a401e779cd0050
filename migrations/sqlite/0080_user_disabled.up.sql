-- An operator may disable an account: it keeps its data but cannot sign
-- in, and its sessions and tokens end at once.
ALTER TABLE users ADD COLUMN disabled_at DATETIME;
-- sms_challenges has no foreign key to users: this index finds a user's
-- challenges when the user is deleted.
CREATE INDEX sms_challenges_user_id ON sms_challenges (user_id);
-- Tokens are revoked by subject when a user is disabled or deleted.
CREATE INDEX oauth_access_tokens_subject ON oauth_access_tokens (subject);
CREATE INDEX oauth_refresh_tokens_subject ON oauth_refresh_tokens (subject);
