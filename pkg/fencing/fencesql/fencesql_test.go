package fencesql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/fencing"
	"github.com/leasehold/leasehold/pkg/fencing/fencesql"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// database is a real database that a test can open, and restart or reopen.
type database struct {
	open    func(t *testing.T) *sql.DB
	restart func(t *testing.T)
}

// pg is one PostgreSQL server for the package's tests, which run one after
// another (one restarts it).
var pg *testserver.Postgres

func TestMain(m *testing.M) {
	var cleanup func()
	var err error
	pg, cleanup, err = testserver.StartPostgresForMain()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting PostgreSQL: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

func postgres(t *testing.T) database {
	url := pg.NewDatabase(t)
	return database{
		open: func(t *testing.T) *sql.DB { return openDB(t, "pgx", url) },
		restart: func(t *testing.T) {
			if err := pg.Restart(); err != nil {
				t.Fatalf("restarting PostgreSQL: %v", err)
			}
		},
	}
}

func sqliteFile(t *testing.T) database {
	dsn := sqlite.DSN(filepath.Join(t.TempDir(), "app.db"), 5*time.Second)
	return database{
		open:    func(t *testing.T) *sql.DB { return openDB(t, "sqlite", dsn) },
		restart: func(*testing.T) {}, // the test closes the file; opening it again is the restart
	}
}

func openDB(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

var databases = map[string]func(t *testing.T) database{
	"postgres": postgres,
	"sqlite":   sqliteFile,
}

// write sets the report's body in a transaction fenced by token.
func write(ctx context.Context, db *sql.DB, token uint64, body string) error {
	return fencesql.Do(ctx, db, "reports", token, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE report SET body = $1 WHERE id = 1", body)
		return err
	})
}

func body(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b string
	if err := db.QueryRowContext(context.Background(), "SELECT body FROM report WHERE id = 1").Scan(&b); err != nil {
		t.Fatal(err)
	}
	return b
}

// wantStale checks that err is the stale-token error for token below highest.
func wantStale(t *testing.T, err error, token, highest uint64) {
	t.Helper()
	var stale *fencing.StaleTokenError
	if !errors.Is(err, fencing.ErrStaleToken) || !errors.As(err, &stale) {
		t.Fatalf("write with token %d = %v, want ErrStaleToken", token, err)
	}
	want := fencing.StaleTokenError{Lock: "reports", Token: token, Highest: highest}
	if diff := cmp.Diff(want, *stale); diff != "" {
		t.Errorf("stale error (-want +got):\n%s", diff)
	}
}

func TestLowerTokenChangesNothingAcrossRestart(t *testing.T) {
	for name, start := range databases {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			d := start(t)
			db := d.open(t)
			if err := fencesql.CreateTable(ctx, db); err != nil {
				t.Fatal(err)
			}
			if err := fencesql.CreateTable(ctx, db); err != nil {
				t.Fatalf("CreateTable again: %v", err)
			}
			if _, err := db.ExecContext(ctx, "CREATE TABLE report (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO report (id, body) VALUES (1, 'empty')"); err != nil {
				t.Fatal(err)
			}

			// Holder A (token 5) writes, B (token 7) takes over and writes,
			// A writes late.
			if err := write(ctx, db, 5, "from A"); err != nil {
				t.Fatalf("A's write: %v", err)
			}
			if err := write(ctx, db, 7, "from B"); err != nil {
				t.Fatalf("B's write: %v", err)
			}
			wantStale(t, write(ctx, db, 5, "late from A"), 5, 7)
			if got := body(t, db); got != "from B" {
				t.Errorf("after A's late write the body is %q, want %q", got, "from B")
			}

			// The database restarts (PostgreSQL) or the file is reopened
			// (SQLite): the highest token is still there.
			_ = db.Close()
			d.restart(t)
			db = d.open(t)
			wantStale(t, write(ctx, db, 6, "later from A"), 6, 7)
			if got := body(t, db); got != "from B" {
				t.Errorf("after the restart and a stale write the body is %q, want %q", got, "from B")
			}
			if err := write(ctx, db, 7, "again from B"); err != nil {
				t.Fatalf("B's write after the restart: %v", err)
			}
			if got := body(t, db); got != "again from B" {
				t.Errorf("body = %q, want %q", got, "again from B")
			}
		})
	}
}

// A failing write rolls the check back with it: a token that never wrote
// anything does not fence out lower ones.
func TestFailedWriteRollsBack(t *testing.T) {
	ctx := context.Background()
	db := sqliteFile(t).open(t)
	if err := fencesql.CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := fencesql.Do(ctx, db, "k", 9, func(*sql.Tx) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("Do = %v, want fn's error", err)
	}
	if err := fencesql.Do(ctx, db, "k", 3, func(*sql.Tx) error { return nil }); err != nil {
		t.Fatalf("Do with token 3 after a rolled-back 9: %v", err)
	}
}

func TestStore(t *testing.T) {
	ctx := context.Background()
	db := sqliteFile(t).open(t)
	s, err := fencesql.NewStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Admit(ctx, "k", 4); err != nil {
		t.Fatal(err)
	}
	if err := s.Admit(ctx, "k", 3); !errors.Is(err, fencing.ErrStaleToken) {
		t.Fatalf("Admit(3) after 4 = %v, want ErrStaleToken", err)
	}
	if err := s.Admit(ctx, "k", 0); !errors.Is(err, fencing.ErrInvalidArgument) {
		t.Fatalf("Admit(0) = %v, want ErrInvalidArgument", err)
	}
}

// On PostgreSQL a newer holder's fenced transaction waits for an older
// holder's that checked first, so the older one's writes cannot land after
// the newer one's: the newer holder's write is the one that stays.
func TestNewerHolderWaitsForOlderTransaction(t *testing.T) {
	ctx := context.Background()
	db := postgres(t).open(t)
	for _, stmt := range []string{
		"CREATE TABLE report (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
		"INSERT INTO report (id, body) VALUES (1, 'empty')",
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := fencesql.CreateTable(ctx, db); err != nil {
		t.Fatal(err)
	}

	older, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = older.Rollback() }()
	if err := fencesql.Check(ctx, older, "reports", 5); err != nil {
		t.Fatal(err)
	}

	newer := make(chan error, 1)
	go func() { newer <- write(ctx, db, 7, "from B") }()

	// Wait until the newer transaction is blocked on the lock's row.
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var n int
		err := db.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		return n == 1, err
	})
	if err != nil {
		t.Fatalf("the newer holder's transaction did not wait for the older one: %v", err)
	}
	if _, err := older.ExecContext(ctx, "UPDATE report SET body = 'from A' WHERE id = 1"); err != nil {
		t.Fatal(err)
	}
	if err := older.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-newer; err != nil {
		t.Fatalf("the newer holder's write: %v", err)
	}
	if got := body(t, db); got != "from B" {
		t.Errorf("body = %q, want the newer holder's %q", got, "from B")
	}
	wantStale(t, write(ctx, db, 5, "late from A"), 5, 7)
}
