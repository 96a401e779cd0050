-- Challenges whose code a provider makes and checks (Twilio Verify, the
-- Xoxzo OTP API) keep the provider's id of the verification instead of a
-- code hash.
ALTER TABLE sms_challenges ADD COLUMN verifier_ref TEXT NOT NULL DEFAULT '';
