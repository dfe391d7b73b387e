// Package fencesql fences writes to a SQL database (PostgreSQL or SQLite)
// with Leasehold's fencing tokens: a row per lock in the table
// leasehold_fences keeps the highest token seen, and a write with a lower
// token changes nothing and returns an error matching
// fencing.ErrStaleToken.
//
// The check is a statement in the writer's own transaction, before its
// writes:
//
//	err := fencesql.Do(ctx, db, "nightly-backup", session.FencingToken(), func(tx *sql.Tx) error {
//		_, err := tx.ExecContext(ctx, "UPDATE reports SET body = $1 WHERE day = $2", body, day)
//		return err
//	})
//	if errors.Is(err, fencing.ErrStaleToken) { /* a newer holder wrote; nothing changed */ }
//
// The check raises the lock's row with an upsert whose update applies only
// when the stored token is not higher (INSERT ... ON CONFLICT DO UPDATE ...
// WHERE), so it is one statement on both databases. The row stays locked
// until the transaction ends: on PostgreSQL a concurrent writer of the same
// lock waits for it and then compares with what it committed; SQLite has one
// writer at a time anyway. A refused check leaves the transaction usable
// but [Do] rolls it back, so the caller's writes never run.
//
// The table holds numbers that must outlive every holder: it lives in the
// database it protects, so it is as durable as the data, and survives
// restarts of the server.
//
// Use database/sql with the pgx driver (github.com/jackc/pgx/v5/stdlib,
// driver name "pgx") or modernc.org/sqlite (driver name "sqlite"). Other
// drivers work if they accept $1-style parameters and report rows affected
// by an upsert.
package fencesql
