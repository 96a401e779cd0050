-- The clients whose tokens a client may introspect as their resource
-- server (RFC 7662 section 2.1), a JSON list of client ids ("*": all).
-- A client always may introspect its own.
ALTER TABLE clients ADD COLUMN resource_server_for TEXT NOT NULL DEFAULT '[]';
