package fencesql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/leasehold/leasehold/pkg/fencing"
)

// Table is the name of the table that keeps the highest token per lock.
const Table = "leasehold_fences"

// createTable works on PostgreSQL and SQLite alike. BIGINT holds every
// token up to fencing.MaxToken.
const createTable = `CREATE TABLE IF NOT EXISTS ` + Table + ` (
	lock_name TEXT PRIMARY KEY,
	token BIGINT NOT NULL
)`

// raise records the token unless a higher one is stored; it affects no row
// when the stored token is higher.
const raise = `INSERT INTO ` + Table + ` (lock_name, token) VALUES ($1, $2)
ON CONFLICT (lock_name) DO UPDATE SET token = excluded.token
WHERE ` + Table + `.token <= excluded.token`

const highest = `SELECT token FROM ` + Table + ` WHERE lock_name = $1`

// Conn is what the functions here run statements on: a *sql.DB, *sql.Tx
// or *sql.Conn.
type Conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// CreateTable creates the table leasehold_fences if it does not exist.
// It is idempotent; run it once at start-up (or in a migration of your own
// with the same statement).
func CreateTable(ctx context.Context, c Conn) error {
	if _, err := c.ExecContext(ctx, createTable); err != nil {
		return fmt.Errorf("creating %s: %w", Table, err)
	}
	return nil
}

// Check records token as the highest seen for lock, or, when a higher
// token is stored, changes nothing and returns a *fencing.StaleTokenError
// (errors.Is(err, fencing.ErrStaleToken)). Call it in the transaction that
// makes the protected writes, before them, and commit only if it returned
// nil; the row it wrote stays locked until that transaction ends.
func Check(ctx context.Context, c Conn, lock string, token uint64) error {
	if err := fencing.CheckLock("lock", lock); err != nil {
		return err
	}
	if err := fencing.CheckToken("token", token); err != nil {
		return err
	}
	res, err := c.ExecContext(ctx, raise, lock, int64(token))
	if err != nil {
		return fmt.Errorf("checking fencing token %d for lock %q: %w", token, lock, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("checking fencing token %d for lock %q: %w", token, lock, err)
	}
	if n > 0 {
		return nil
	}
	var h int64
	if err := c.QueryRowContext(ctx, highest, lock).Scan(&h); err != nil {
		return fmt.Errorf("reading the highest fencing token for lock %q: %w", lock, err)
	}
	return &fencing.StaleTokenError{Lock: lock, Token: token, Highest: uint64(h)}
}

// Do runs fn in a transaction that first checks token for lock (see
// Check). fn runs only if the check passed, and the transaction commits
// only if fn returns nil; otherwise it is rolled back and Do returns the
// check's or fn's error.
func Do(ctx context.Context, db *sql.DB, lock string, token uint64, fn func(tx *sql.Tx) error) (err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning a fenced transaction for lock %q: %w", lock, err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreDone(tx.Rollback()))
		}
	}()
	if err := Check(ctx, tx, lock, token); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing a fenced transaction for lock %q: %w", lock, err)
	}
	return nil
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Store is a fencing.Store in the table leasehold_fences, for a resource
// that checks tokens apart from its own writes (fencehttp's middleware, for
// several replicas of a service behind one database).
type Store struct{ db *sql.DB }

var _ fencing.Store = (*Store)(nil)

// NewStore returns a Store on db, creating the table if needed.
func NewStore(ctx context.Context, db *sql.DB) (*Store, error) {
	if err := CreateTable(ctx, db); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

// Admit implements fencing.Store with Check in a transaction of its own.
func (s *Store) Admit(ctx context.Context, lock string, token uint64) error {
	return Check(ctx, s.db, lock, token)
}
