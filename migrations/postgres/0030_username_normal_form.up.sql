-- Usernames are stored in their normal form (store.NormalizeUsername:
-- PRECIS UsernameCaseMapped, RFC 8265), so "Alice" and "alice" are one
-- user. Existing names of printable ASCII are brought to it (lower case)
-- wherever that merges no two accounts; any other keeps its spelling,
-- which the operator renames by hand (README: "Usernames").
UPDATE users SET username = lower(username)
WHERE username <> lower(username)
  AND username ~ '^[!-~]+$'
  AND lower(username) NOT IN (
    SELECT lower(u2.username) FROM users u2 GROUP BY lower(u2.username) HAVING count(*) > 1
  );
