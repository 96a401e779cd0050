-- The login flow's states are named one per page (idp/store/machine.go).
-- moves records the moves that brought a flow where it is (a reused
-- session shows there), retry_at and refusal say when and why a refused
-- SMS may be asked for again.
ALTER TABLE login_flows ADD COLUMN moves TEXT NOT NULL DEFAULT '';
ALTER TABLE login_flows ADD COLUMN retry_at DATETIME;
ALTER TABLE login_flows ADD COLUMN refusal TEXT NOT NULL DEFAULT '';

-- Flows in progress during the upgrade keep their page.
UPDATE login_flows SET state = 'awaiting_pin' WHERE state = 'password_ok' AND challenge_id IS NOT NULL;
UPDATE login_flows SET state = 'awaiting_phone' WHERE state = 'password_ok';
UPDATE login_flows SET state = 'awaiting_new_phone' WHERE state = 'mfa_ok' AND purpose = 'phone_change';
UPDATE login_flows SET state = 'awaiting_new_phone_pin' WHERE state = 'new_phone';
