-- Passwordless sign-in (IDP_PASSKEY_PASSWORDLESS): its WebAuthn ceremony
-- belongs to a flow before any user is known, so user_id may be NULL.
ALTER TABLE webauthn_ceremonies ALTER COLUMN user_id DROP NOT NULL;
