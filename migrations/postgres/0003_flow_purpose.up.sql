-- A login flow serves an RP's authorize request ('login') or the account's
-- own phone change ('phone_change', no client).
ALTER TABLE login_flows ADD COLUMN purpose TEXT NOT NULL DEFAULT 'login';
