-- Fixed-window counters for rate limits (SMS sends per phone, user,
-- client network and in all), shared by every instance. The key never
-- holds a phone number or address in clear: it is a keyed hash.
CREATE TABLE rate_counters (
    key           TEXT NOT NULL,
    window_start  DATETIME NOT NULL,
    count         INTEGER NOT NULL,
    expires_at    DATETIME NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX rate_counters_expires_at ON rate_counters (expires_at);
