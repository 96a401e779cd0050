-- A client's logo, shown on the consent page (https only).
ALTER TABLE clients ADD COLUMN logo_uri TEXT NOT NULL DEFAULT '';
