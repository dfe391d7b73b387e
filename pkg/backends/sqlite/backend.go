package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/internal/sqlrecord"
)

// DefaultBusyTimeout is how long a statement waits for another connection's
// write to finish before it fails with ErrUnavailable.
const DefaultBusyTimeout = 5 * time.Second

// Option configures a Backend.
type Option func(*config)

type config struct {
	namespace string
	// scope identifies the database for in-process notifications.
	scope any
	// busyTimeout bounds Migrate's retries of the switch to WAL.
	busyTimeout time.Duration
	ownsDB      bool
}

// WithNamespace scopes the Backend to namespace ("" means "default").
func WithNamespace(namespace string) Option {
	return func(c *config) {
		if namespace != "" {
			c.namespace = namespace
		}
	}
}

// withNotifyScope makes Backends opened on the same database file share
// change notifications even though each has its own *sql.DB.
func withNotifyScope(scope any) Option {
	return func(c *config) { c.scope = scope }
}

// withBusyTimeout tells Migrate how long to retry the switch to WAL.
func withBusyTimeout(d time.Duration) Option {
	return func(c *config) { c.busyTimeout = d }
}

// withOwnedDB makes Close close the *sql.DB, for Backends that Open built.
func withOwnedDB() Option {
	return func(c *config) { c.ownsDB = true }
}

// Backend keeps lock records in a SQLite database, scoped to one
// namespace. Create it with New or Open.
type Backend struct {
	db     *sql.DB
	ns     string
	scope  any // identifies the database for in-process notifications
	ownsDB bool
	// busyTimeout bounds Migrate's retries of the switch to WAL.
	busyTimeout time.Duration

	mu     sync.Mutex
	closed bool

	// now is the clock that decides expiry; tests replace it.
	now func() time.Time

	// watch tells this process's waiters of commits by other processes.
	watch watch
}

var (
	_ backends.Backend  = (*Backend)(nil)
	_ backends.Notifier = (*Backend)(nil)
)

// Describe implements backends.Describer.
func (b *Backend) Describe() backends.Description {
	return backends.Description{Backend: "sqlite", Namespace: b.ns}
}

// New returns a Backend on db, which must be a modernc.org/sqlite database
// (driver name "sqlite"). New performs no I/O: call Migrate once before use
// (Open does both). Close does not close db.
//
// Each connection of db should set a busy timeout, and the file should be
// in WAL mode, for several connections or processes to share it; build db
// with the DSN that DSN returns to get both.
func New(db *sql.DB, opts ...Option) (*Backend, error) {
	if db == nil {
		return nil, backends.InvalidArgument("db", "must not be nil")
	}
	c := config{namespace: "default", scope: db, busyTimeout: DefaultBusyTimeout}
	for _, opt := range opts {
		opt(&c)
	}
	return &Backend{db: db, ns: c.namespace, scope: c.scope, ownsDB: c.ownsDB, busyTimeout: c.busyTimeout, now: time.Now}, nil
}

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	return backends.CheckCall(ctx, closed, op, key)
}

// newVersion returns a random 128-bit version, so that every grant and
// renewal, even a same-holder re-acquire, gets a version nobody has seen.
func newVersion() (string, error) {
	var v [16]byte
	if _, err := rand.Read(v[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(v[:]), nil
}

// scanRecord reads one row of columns and judges Held at now.
func scanRecord(row interface{ Scan(...any) error }, now time.Time) (backends.Lock, bool, error) {
	var (
		l                         backends.Lock
		token                     int64
		acquired, renewed, expiry int64
		leaseMS                   int64
		md                        sql.NullString
		tookOver                  bool
	)
	if err := row.Scan(&l.Key, &l.Holder, &l.Version, &token, &acquired, &renewed, &expiry, &leaseMS, &md, &tookOver); err != nil {
		return backends.Lock{}, false, err
	}
	l.FencingToken = uint64(token)
	l.AcquiredAt = time.UnixMilli(acquired)
	l.RenewedAt = time.UnixMilli(renewed)
	l.ExpiresAt = time.UnixMilli(expiry)
	l.LeaseDuration = time.Duration(leaseMS) * time.Millisecond
	if md.Valid {
		var err error
		if l.Metadata, err = sqlrecord.DecodeMetadata([]byte(md.String)); err != nil {
			return backends.Lock{}, false, err
		}
	}
	l.Held = l.Holder != "" && now.Before(l.ExpiresAt)
	return l, tookOver, nil
}

// read judges liveness by the local clock, read after the record.
func (b *Backend) read(ctx context.Context, key string) (sqlrecord.Current, error) {
	var c sqlrecord.Current
	var expires int64
	var deleted bool
	err := b.db.QueryRowContext(ctx, readSQL, b.ns, key).Scan(&c.Holder, &c.Version, &expires, &deleted)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, nil
	case err != nil:
		return c, err
	}
	c.Exists = !deleted
	c.Expires = time.UnixMilli(expires)
	c.Live = expires > b.now().UnixMilli()
	return c, nil
}

// Acquire implements backends.Backend.
func (b *Backend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	const op = "acquiring"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	return sqlrecord.Acquire(ctx, req, sql.ErrNoRows, b.read, func(md any) (backends.Lock, error) {
		version, err := newVersion()
		if err != nil {
			return backends.Lock{}, err
		}
		now := b.now()
		row := b.db.QueryRowContext(ctx, acquireSQL, b.ns, req.Key, req.Holder, version, now.UnixMilli(), req.LeaseDuration.Milliseconds(), md)
		l, tookOver, err := scanRecord(row, now)
		if err == nil && tookOver {
			// The previous holder's lease ran out and someone else (or the
			// holder anew) has the key: waiters learn its new expiry.
			notify(b.scope, b.ns, req.Key)
		}
		return l, err
	})
}

// Renew implements backends.Backend.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	const op = "renewing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	return sqlrecord.Renew(ctx, req, sql.ErrNoRows, b.read, func(md any) (backends.Lock, error) {
		version, err := newVersion()
		if err != nil {
			return backends.Lock{}, err
		}
		now := b.now()
		row := b.db.QueryRowContext(ctx, renewSQL,
			b.ns, req.Key, req.Holder, req.Version, version, now.UnixMilli(), req.LeaseDuration.Milliseconds(), md)
		l, _, err := scanRecord(row, now)
		return l, err
	})
}

// Release implements backends.Backend.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	const op = "releasing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return err
	}
	return sqlrecord.Release(ctx, req, sql.ErrNoRows, b.read, func() error {
		version, err := newVersion()
		if err != nil {
			return err
		}
		res, err := b.db.ExecContext(ctx, releaseSQL, b.ns, req.Key, req.Holder, req.Version, version, req.Delete)
		if err != nil {
			return err
		}
		switch n, err := res.RowsAffected(); {
		case err != nil:
			return err
		case n == 0:
			return sql.ErrNoRows
		}
		notify(b.scope, b.ns, req.Key)
		return nil
	})
}

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	const op = "getting"
	if err := b.check(ctx, op, key); err != nil {
		return backends.Lock{}, err
	}
	l, _, err := scanRecord(b.db.QueryRowContext(ctx, getSQL, b.ns, key), b.now())
	return sqlrecord.Record(ctx, key, sql.ErrNoRows, l, err)
}

// List implements backends.Backend. The page token is the last key of the
// previous page.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	const op = "listing"
	if err := b.check(ctx, op, req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	now := b.now()
	query := func(end string, bounded bool) (*sql.Rows, error) {
		if bounded {
			return b.db.QueryContext(ctx, listRangeSQL, b.ns, req.Prefix, req.PageToken, req.Limit+1, end)
		}
		return b.db.QueryContext(ctx, listSQL, b.ns, req.Prefix, req.PageToken, req.Limit+1)
	}
	return sqlrecord.Page(ctx, req, query, func(rows *sql.Rows) { _ = rows.Close() }, func(rows *sql.Rows) (backends.Lock, error) {
		l, _, err := scanRecord(rows, now)
		return l, err
	})
}

// Close implements backends.Backend. It closes the database only if Open
// created it.
func (b *Backend) Close() error {
	b.stopWatch()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	if b.ownsDB {
		return b.db.Close()
	}
	return nil
}

// Subscribe implements backends.Notifier: it signals releases, deletes and
// takeovers of key made through any Backend of this process on the same
// database (the same *sql.DB, or the same file opened with Open) at once,
// and, for a database file opened with Open, those made by other processes
// within about ChangeCheckPeriod.
func (b *Backend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := b.check(ctx, "subscribing", key); err != nil {
		return nil, err
	}
	b.addKey(ctx, key)
	context.AfterFunc(ctx, func() { b.dropKey(key) })
	return subscribe(ctx, b.scope, b.ns, key), nil
}
