-- Recovery codes: single-use codes typed instead of an SMS PIN when the
-- phone is lost. code_id is the public part a typed code is found by;
-- only a slow hash (argon2id) of its secret part is kept. A new set
-- replaces the old.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_id     TEXT NOT NULL,
    code_hash   TEXT NOT NULL,
    created_at  DATETIME NOT NULL,
    used_at     DATETIME,
    PRIMARY KEY (user_id, code_id)
);
