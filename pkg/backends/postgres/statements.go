package postgres

import (
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// idents are the schema objects' names, quoted for SQL.
type idents struct {
	Schema     string
	Table      string
	Sequence   string
	Migrations string
	// SequenceLiteral is the sequence's name as a string literal for
	// nextval; the identifier rules leave no quote to escape.
	SequenceLiteral string
}

func newIdents(schema, table string) idents {
	seq := pgx.Identifier{schema, table + "_fencing_seq"}.Sanitize()
	return idents{
		Schema:          pgx.Identifier{schema}.Sanitize(),
		Table:           pgx.Identifier{schema, table}.Sanitize(),
		Sequence:        seq,
		Migrations:      pgx.Identifier{schema, table + "_migrations"}.Sanitize(),
		SequenceLiteral: "'" + seq + "'",
	}
}

// advisoryKey is the pg_advisory_xact_lock key that serialises migrations
// of one table, so that other tables migrate independently.
func advisoryKey(schema, table string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("leasehold-migrate\x00" + schema + "\x00" + table))
	return int64(h.Sum64())
}

type statements struct {
	acquire, renew, release, read, get, list, listRange string
}

// recordColumns are what scanRecord reads. Held is judged by the server's
// clock in the same statement.
const recordColumns = `key, holder, version, fencing_token, acquired_at, renewed_at, expires_at, lease_ms, metadata,
  (holder <> '' AND expires_at > now())`

// Every statement judges time by now(): the start of its own transaction,
// which for these single-statement transactions is the moment the server
// began the statement. It is one instant for the whole statement, so the
// expiry check and the times written agree. If the statement waited for a
// row lock, now() is older than the moment it decided, which only errs on
// the safe side: a lease looks live slightly longer to a taker, and a grant
// is stamped slightly earlier, so it ends no later than its holder (who
// counts from when it sent the request, before now()) believes.
func newStatements(id idents) statements {
	nextval := `nextval(` + id.SequenceLiteral + `)`
	// grantable reads the row as it was before the update: free (released
	// or deleted) or expired.
	const grantable = `(l.holder = '' OR l.expires_at <= now())`
	const notify = `pg_notify($6, json_build_array($1::text, $2::text)::text) IS NULL`
	return statements{
		// One statement decides and writes: insert the first record for
		// the key, or update the existing one only where WHERE allows
		// (grantable, or the same holder's live lease). A refused acquire
		// returns no row. The fencing token of a grant over an existing
		// row is drawn in SET, after the row lock is taken, so it is
		// greater than the token of every grant that committed before;
		// the VALUES token serves only a key that never had a row.
		acquire: `INSERT INTO ` + id.Table + ` AS l
  (namespace, key, holder, version, fencing_token, acquired_at, renewed_at, expires_at, lease_ms, metadata, deleted, took_over)
VALUES ($1, $2, $3, ` + nextval + `::text, ` + nextval + `, now(), now(),
  now() + $4::bigint * interval '1 millisecond', $4, $5::jsonb, false, false)
ON CONFLICT (namespace, key) DO UPDATE SET
  holder = EXCLUDED.holder,
  version = EXCLUDED.version,
  fencing_token = CASE WHEN ` + grantable + ` THEN ` + nextval + ` ELSE l.fencing_token END,
  acquired_at = CASE WHEN ` + grantable + ` THEN now() ELSE l.acquired_at END,
  renewed_at = now(),
  expires_at = EXCLUDED.expires_at,
  lease_ms = EXCLUDED.lease_ms,
  metadata = CASE WHEN ` + grantable + ` THEN EXCLUDED.metadata ELSE coalesce(EXCLUDED.metadata, l.metadata) END,
  deleted = false,
  took_over = (l.holder <> '' AND l.expires_at <= now())
WHERE ` + grantable + ` OR l.holder = EXCLUDED.holder
RETURNING ` + recordColumns + `,
  CASE WHEN l.took_over THEN ` + notify + ` ELSE false END`,

		renew: `UPDATE ` + id.Table + ` AS l SET
  version = ` + nextval + `::text,
  renewed_at = now(),
  expires_at = now() + $5::bigint * interval '1 millisecond',
  lease_ms = $5,
  metadata = coalesce($6::jsonb, l.metadata),
  took_over = false
WHERE namespace = $1 AND key = $2 AND holder = $3 AND version = $4 AND NOT deleted AND expires_at > now()
RETURNING ` + recordColumns,

		// Delete keeps a tombstone: the key's row, and with it the order
		// of its fencing tokens, outlives the lock.
		release: `UPDATE ` + id.Table + ` SET
  holder = '', version = ` + nextval + `::text, metadata = NULL, deleted = $5, took_over = false
WHERE namespace = $1 AND key = $2 AND holder = $3 AND version = $4 AND NOT deleted
RETURNING ` + notify,

		read: `SELECT holder, version, expires_at, expires_at > now(), deleted FROM ` + id.Table + `
WHERE namespace = $1 AND key = $2`,

		get: `SELECT ` + recordColumns + ` FROM ` + id.Table + `
WHERE namespace = $1 AND key = $2 AND NOT deleted`,

		// Both list forms are a range scan of the primary key: key is
		// COLLATE "C", so comparisons are byte order and the prefix is
		// literal ($5 is the end of the prefix's range, see sqlrecord.PrefixEnd).
		list: `SELECT ` + recordColumns + ` FROM ` + id.Table + `
WHERE namespace = $1 AND key >= $2 AND key > $3 AND NOT deleted
ORDER BY key LIMIT $4`,
		listRange: `SELECT ` + recordColumns + ` FROM ` + id.Table + `
WHERE namespace = $1 AND key >= $2 AND key > $3 AND key < $5 AND NOT deleted
ORDER BY key LIMIT $4`,
	}
}
