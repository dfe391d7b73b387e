-- One row per (namespace, key) ever granted. A release with delete keeps the
-- row as a tombstone (deleted = 1, no holder) so that the key's fencing token
-- survives and the next grant's token is still greater. Times are Unix
-- milliseconds by the local clock of the writing process.
CREATE TABLE IF NOT EXISTS leasehold_locks (
    namespace     TEXT    NOT NULL,
    key           TEXT    NOT NULL,
    holder        TEXT    NOT NULL DEFAULT '',
    version       TEXT    NOT NULL,
    fencing_token INTEGER NOT NULL,
    acquired_at   INTEGER NOT NULL,
    renewed_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    lease_ms      INTEGER NOT NULL,
    metadata      TEXT,
    deleted       INTEGER NOT NULL DEFAULT 0,
    took_over     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (namespace, key)
) STRICT, WITHOUT ROWID;
