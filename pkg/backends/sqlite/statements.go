package sqlite

// The statements every operation sends. Each decides and writes in one
// statement; ?N parameters are numbered as the callers pass them.

// columns are what every read returns, in scanRecord's order.
const columns = `key, holder, version, fencing_token, acquired_at, renewed_at, expires_at, lease_ms, metadata, took_over`

// A grant is due when the record has no holder (released or deleted) or its
// lease has expired by ?5, the caller's clock reading.
const grantable = `(holder = '' OR expires_at <= ?5)`

// acquireSQL decides and writes in one statement: insert a new record, or
// update the existing one only where the WHERE clause allows (free,
// expired, or the same holder's lease). A refused acquire returns no row.
// SET expressions read the row as it was before the update, so grantable
// means the same thing in each of them.
const acquireSQL = `INSERT INTO leasehold_locks
  (namespace, key, holder, version, fencing_token, acquired_at, renewed_at, expires_at, lease_ms, metadata, deleted, took_over)
VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5, ?5 + ?6, ?6, ?7, 0, 0)
ON CONFLICT (namespace, key) DO UPDATE SET
  holder = excluded.holder,
  version = excluded.version,
  fencing_token = CASE WHEN ` + grantable + ` THEN fencing_token + 1 ELSE fencing_token END,
  acquired_at = CASE WHEN ` + grantable + ` THEN excluded.acquired_at ELSE acquired_at END,
  renewed_at = excluded.renewed_at,
  expires_at = excluded.expires_at,
  lease_ms = excluded.lease_ms,
  metadata = CASE WHEN ` + grantable + ` THEN excluded.metadata ELSE coalesce(excluded.metadata, metadata) END,
  deleted = 0,
  took_over = (holder <> '' AND expires_at <= ?5)
WHERE ` + grantable + ` OR holder = excluded.holder
RETURNING ` + columns

// readSQL is the failure path's read: it tells which error applies.
const readSQL = `SELECT holder, version, expires_at, deleted FROM leasehold_locks WHERE namespace = ?1 AND key = ?2`

// renewSQL extends the caller's lease only if holder and version match and
// it has not expired by ?6.
const renewSQL = `UPDATE leasehold_locks SET
  version = ?5, renewed_at = ?6, expires_at = ?6 + ?7, lease_ms = ?7,
  metadata = coalesce(?8, metadata), took_over = 0
WHERE namespace = ?1 AND key = ?2 AND holder = ?3 AND version = ?4 AND deleted = 0 AND expires_at > ?6
RETURNING ` + columns

// releaseSQL frees the record, or turns it into a tombstone with ?6 = 1. A
// tombstone keeps the key's fencing token so that the next grant's is
// greater; Get and List do not see it.
const releaseSQL = `UPDATE leasehold_locks SET
  holder = '', version = ?5, metadata = NULL, deleted = ?6, took_over = 0
WHERE namespace = ?1 AND key = ?2 AND holder = ?3 AND version = ?4 AND deleted = 0`

// getSQL reads a live record (not a tombstone).
const getSQL = `SELECT ` + columns + ` FROM leasehold_locks WHERE namespace = ?1 AND key = ?2 AND deleted = 0`

// listSQL and listRangeSQL select a key range of the primary key, so the
// scan touches only matching rows. TEXT compares with the BINARY collation
// (memcmp), which is the byte order the contract sorts by; ?5 is the
// exclusive upper end of the prefix's range (see sqlrecord.PrefixEnd).
const (
	listSQL = `SELECT ` + columns + ` FROM leasehold_locks
WHERE namespace = ?1 AND key >= ?2 AND key > ?3 AND deleted = 0
ORDER BY key LIMIT ?4`
	listRangeSQL = `SELECT ` + columns + ` FROM leasehold_locks
WHERE namespace = ?1 AND key >= ?2 AND key < ?5 AND key > ?3 AND deleted = 0
ORDER BY key LIMIT ?4`
)
