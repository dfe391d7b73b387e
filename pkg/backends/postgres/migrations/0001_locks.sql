-- {{.Table}} holds one row per (namespace, key) ever granted. A release with
-- delete keeps the row as a tombstone (deleted, no holder) so that a grant
-- can never race a delete into reusing a lower fencing token. Keys sort by
-- byte order (COLLATE "C"), as the contract lists them.
CREATE SEQUENCE IF NOT EXISTS {{.Sequence}} AS bigint MINVALUE 1;

CREATE TABLE IF NOT EXISTS {{.Table}} (
    namespace     text COLLATE "C" NOT NULL,
    key           text COLLATE "C" NOT NULL,
    holder        text NOT NULL DEFAULT '',
    version       text NOT NULL,
    fencing_token bigint NOT NULL,
    acquired_at   timestamptz NOT NULL,
    renewed_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    lease_ms      bigint NOT NULL,
    metadata      jsonb,
    deleted       boolean NOT NULL DEFAULT false,
    took_over     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (namespace, key)
);
