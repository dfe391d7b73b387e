package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/leasehold/leasehold/pkg/backends"
)

// migrations holds the schema, one file per version, applied in name order.
//
//go:embed migrations/*.sql
var migrations embed.FS

// Migrate puts the database in WAL mode and creates or upgrades the
// schema. It is idempotent and safe when several processes start at once:
// the migrations run in a BEGIN IMMEDIATE transaction, which takes SQLite's
// write lock before reading which migrations are applied, so they run one
// after another and each applies only what is still missing.
func (b *Backend) Migrate(ctx context.Context) error {
	if err := b.enableWAL(ctx); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return migrateError(fmt.Errorf("connecting: %w", err))
	}
	defer func() { _ = conn.Close() }()
	// database/sql's BeginTx would start a DEFERRED transaction, whose later
	// upgrade to a write can fail at once with SQLITE_BUSY instead of waiting.
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return migrateError(fmt.Errorf("taking the write lock: %w", err))
	}
	committed := false
	defer func() {
		if !committed {
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS leasehold_migrations (
  version TEXT PRIMARY KEY,
  applied_at INTEGER NOT NULL
) STRICT`); err != nil {
		return migrateError(err)
	}
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		var n int
		if err := conn.QueryRowContext(ctx, `SELECT count(*) FROM leasehold_migrations WHERE version = ?1`, version).Scan(&n); err != nil {
			return migrateError(err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, string(body)); err != nil {
			return migrateError(fmt.Errorf("migration %s: %w", version, err))
		}
		const record = `INSERT INTO leasehold_migrations (version, applied_at) VALUES (?1, ?2)`
		if _, err := conn.ExecContext(ctx, record, version, b.now().UnixMilli()); err != nil {
			return migrateError(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return migrateError(err)
	}
	committed = true
	return nil
}

// enableWAL switches the file to WAL journaling (persistent: later
// connections and other processes follow it). A connection that finds
// another doing the same on a fresh file gets SQLITE_BUSY at once, without
// the busy handler, so it retries here within the busy timeout.
func (b *Backend) enableWAL(ctx context.Context) error {
	deadline := time.Now().Add(b.busyTimeout)
	for {
		var mode string
		err := b.db.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode)
		if err == nil {
			return nil // "wal", or "memory" for :memory:, which has no journal file
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !isBusy(err) {
			return migrateError(fmt.Errorf("enabling WAL: %w", err))
		}
		t := time.NewTimer(time.Duration(5+rand.IntN(20)) * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or one of its
// extended codes).
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func migrateError(err error) error {
	return fmt.Errorf("migrating the SQLite schema: %w: %w", backends.ErrUnavailable, err)
}
