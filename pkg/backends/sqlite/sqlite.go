package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	// The pure-Go SQLite driver, registered as "sqlite".
	_ "modernc.org/sqlite"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/internal/sqlrecord"
)

func init() {
	backends.Register("sqlite", func(ctx context.Context, u *url.URL) (backends.Backend, error) {
		return openURL(ctx, u)
	})
}

// DefaultBusyTimeout is how long a statement waits for another connection's
// write to finish before it fails with ErrUnavailable.
const DefaultBusyTimeout = 5 * time.Second

// Option configures a Backend.
type Option func(*Backend)

// WithNamespace scopes the Backend to namespace ("" means "default").
func WithNamespace(namespace string) Option {
	return func(b *Backend) {
		if namespace != "" {
			b.ns = namespace
		}
	}
}

// withNotifyScope makes Backends opened on the same database file share
// change notifications even though each has its own *sql.DB.
func withNotifyScope(scope any) Option {
	return func(b *Backend) { b.scope = scope }
}

// withBusyTimeout tells Migrate how long to retry the switch to WAL.
func withBusyTimeout(d time.Duration) Option {
	return func(b *Backend) { b.busyTimeout = d }
}

// withOwnedDB makes Close close the *sql.DB, for Backends that Open built.
func withOwnedDB() Option {
	return func(b *Backend) { b.ownsDB = true }
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
	b := &Backend{db: db, ns: "default", now: time.Now, busyTimeout: DefaultBusyTimeout}
	b.scope = db
	for _, opt := range opts {
		opt(b)
	}
	return b, nil
}

// DSN returns the modernc.org/sqlite data source name Open uses for the
// database file at path: synchronous=FULL (a committed grant survives power
// loss, so no fencing token is ever handed out twice) and the given busy
// timeout on every connection. Migrate puts the file in WAL mode, which is
// persistent, rather than every new connection: two connections switching
// a fresh file to WAL at once can fail with SQLITE_BUSY without waiting.
func DSN(path string, busyTimeout time.Duration) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(busyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "synchronous(FULL)")
	// The path goes into an SQLite URI, where '?', '#' and '%' would be read
	// as syntax; EscapedPath percent-encodes them and SQLite decodes them.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// Open opens the backend a URL names:
//
//	sqlite:///var/lib/leasehold/locks.db?namespace=team-a
//	sqlite:relative/locks.db
//	sqlite://:memory:?namespace=team-a
//
// Query parameters: namespace (default "default") and busy_timeout (a Go
// duration, default 5s). Unknown parameters are an error, so that a typo is
// not silently ignored. The schema is created if missing. A malformed URL
// or an unknown parameter is ErrInvalidArgument; a database folder that
// does not exist, a file that cannot be opened, or a database that stays
// locked past the busy timeout, is ErrUnavailable.
//
// A :memory: database lives as long as the Backend and is private to it:
// it uses a single connection, because every new connection to :memory:
// would be a new, empty database. Share one such database between
// namespaces by opening it once and calling New for each namespace.
func Open(ctx context.Context, rawURL string) (*Backend, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "cannot be parsed")
	}
	if u.Scheme != "sqlite" {
		return nil, backends.InvalidArgument("backend URL", "scheme must be sqlite, not %q", u.Scheme)
	}
	return openURL(ctx, u)
}

func openURL(ctx context.Context, u *url.URL) (*Backend, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "query cannot be parsed")
	}
	namespace := q.Get("namespace")
	busy := DefaultBusyTimeout
	for name, values := range q {
		switch name {
		case "namespace":
		case "busy_timeout":
			if busy, err = time.ParseDuration(values[0]); err != nil || busy < 0 {
				return nil, backends.InvalidArgument("backend URL", "busy_timeout %q is not a non-negative duration", values[0])
			}
		default:
			return nil, backends.InvalidArgument("backend URL", "unknown query parameter %q (known: namespace, busy_timeout)", name)
		}
	}

	var path string
	switch {
	case u.Host == ":memory:" || u.Opaque == ":memory:":
		path = ":memory:"
	case u.Opaque != "":
		path = u.Opaque
	case u.Host != "" && u.Host != "localhost":
		return nil, backends.InvalidArgument("backend URL", "host %q: SQLite is a local file; use sqlite:///absolute/path, sqlite:relative/path or sqlite://:memory:", u.Host)
	default:
		path = u.Path
	}
	if path == "" {
		return nil, backends.InvalidArgument("backend URL", "needs a database file path or :memory:")
	}

	memory := path == ":memory:"
	var scope any
	if !memory {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, backends.InvalidArgument("backend URL", "path %q: %v", path, err)
		}
		if resolved, err := filepath.EvalSymlinks(abs); err == nil {
			abs = resolved
		}
		scope = fileScope(abs)
	}
	db, err := sql.Open("sqlite", DSN(path, busy))
	if err != nil {
		return nil, backends.InvalidArgument("backend URL", "%v", err)
	}
	if memory {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	opts := []Option{WithNamespace(namespace), withOwnedDB(), withBusyTimeout(busy)}
	if scope != nil {
		opts = append(opts, withNotifyScope(scope))
	}
	b, err := New(db, opts...)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		if dir := filepath.Dir(path); !memory {
			if _, statErr := os.Stat(dir); errors.Is(statErr, fs.ErrNotExist) {
				// Like a missing database on a server: the URL is well
				// formed, what it names is not there.
				return nil, fmt.Errorf("opening database file %q: %w: its folder %q does not exist", path, backends.ErrUnavailable, dir)
			}
		}
		return nil, fmt.Errorf("opening database file %q: %w: %w", path, backends.ErrUnavailable, err)
	}
	if err := b.Migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return b, nil
}

// fileScope identifies a database file for in-process notifications.
type fileScope string

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return backends.KeyError(op, key, backends.ErrClosed)
	}
	return backends.CheckContext(ctx, op, key)
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

// columns are what every read returns, in scanRecord's order.
const columns = `key, holder, version, fencing_token, acquired_at, renewed_at, expires_at, lease_ms, metadata, took_over`

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
	md, err := sqlrecord.EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "%v", err)
	}
	return sqlrecord.Guarded(ctx, op, req.Key, sql.ErrNoRows,
		func() (backends.Lock, error) {
			version, err := newVersion()
			if err != nil {
				return backends.Lock{}, err
			}
			now := b.now()
			row := b.db.QueryRowContext(ctx, acquireSQL, b.ns, req.Key, req.Holder, version, now.UnixMilli(), req.LeaseDuration.Milliseconds(), md)
			l, tookOver, err := scanRecord(row, now)
			if err == nil && tookOver {
				// The previous holder's lease ran out and someone else (or
				// the holder anew) has the key: waiters learn its new expiry.
				notify(b.scope, b.ns, req.Key)
			}
			return l, err
		},
		b.read,
		func(c sqlrecord.Current) error { return c.AcquireError(req.Key, req.Holder) },
		func() error { return sqlrecord.AcquireExhausted(req.Key) })
}

// renewSQL extends the caller's lease only if holder and version match and
// it has not expired by ?6.
const renewSQL = `UPDATE leasehold_locks SET
  version = ?5, renewed_at = ?6, expires_at = ?6 + ?7, lease_ms = ?7,
  metadata = coalesce(?8, metadata), took_over = 0
WHERE namespace = ?1 AND key = ?2 AND holder = ?3 AND version = ?4 AND deleted = 0 AND expires_at > ?6
RETURNING ` + columns

// Renew implements backends.Backend.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	const op = "renewing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	md, err := sqlrecord.EncodeMetadata(req.Metadata)
	if err != nil {
		return backends.Lock{}, backends.InvalidArgument("Metadata", "%v", err)
	}
	return sqlrecord.Guarded(ctx, op, req.Key, sql.ErrNoRows,
		func() (backends.Lock, error) {
			version, err := newVersion()
			if err != nil {
				return backends.Lock{}, err
			}
			now := b.now()
			row := b.db.QueryRowContext(ctx, renewSQL, b.ns, req.Key, req.Holder, req.Version, version, now.UnixMilli(), req.LeaseDuration.Milliseconds(), md)
			l, _, err := scanRecord(row, now)
			return l, err
		},
		b.read,
		func(c sqlrecord.Current) error { return c.RenewError(op, req.Key, req.Holder, req.Version) },
		func() error { return sqlrecord.Exhausted(op, req.Key) })
}

// releaseSQL frees the record, or turns it into a tombstone with ?6 = 1. A
// tombstone keeps the key's fencing token so that the next grant's is
// greater; Get and List do not see it.
const releaseSQL = `UPDATE leasehold_locks SET
  holder = '', version = ?5, metadata = NULL, deleted = ?6, took_over = 0
WHERE namespace = ?1 AND key = ?2 AND holder = ?3 AND version = ?4 AND deleted = 0`

// Release implements backends.Backend.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	const op = "releasing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return err
	}
	_, err := sqlrecord.Guarded(ctx, op, req.Key, sql.ErrNoRows,
		func() (struct{}, error) {
			version, err := newVersion()
			if err != nil {
				return struct{}{}, err
			}
			res, err := b.db.ExecContext(ctx, releaseSQL, b.ns, req.Key, req.Holder, req.Version, version, req.Delete)
			if err != nil {
				return struct{}{}, err
			}
			switch n, err := res.RowsAffected(); {
			case err != nil:
				return struct{}{}, err
			case n == 0:
				return struct{}{}, sql.ErrNoRows
			}
			notify(b.scope, b.ns, req.Key)
			return struct{}{}, nil
		},
		b.read,
		func(c sqlrecord.Current) error { return c.GuardError(op, req.Key, req.Holder, req.Version) },
		func() error { return sqlrecord.Exhausted(op, req.Key) })
	return err
}

const getSQL = `SELECT ` + columns + ` FROM leasehold_locks WHERE namespace = ?1 AND key = ?2 AND deleted = 0`

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	const op = "getting"
	if err := b.check(ctx, op, key); err != nil {
		return backends.Lock{}, err
	}
	l, _, err := scanRecord(b.db.QueryRowContext(ctx, getSQL, b.ns, key), b.now())
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return backends.Lock{}, backends.KeyError(op, key, backends.ErrNotFound)
	case err != nil:
		return backends.Lock{}, sqlrecord.StoreError(ctx, op, key, err)
	}
	return l, nil
}

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

// List implements backends.Backend. The page token is the last key of the
// previous page.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	const op = "listing"
	if err := b.check(ctx, op, req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	now := b.now()
	var rows *sql.Rows
	var err error
	if end, ok := sqlrecord.PrefixEnd(req.Prefix); ok {
		rows, err = b.db.QueryContext(ctx, listRangeSQL, b.ns, req.Prefix, req.PageToken, req.Limit+1, end)
	} else {
		rows, err = b.db.QueryContext(ctx, listSQL, b.ns, req.Prefix, req.PageToken, req.Limit+1)
	}
	if err != nil {
		return backends.ListPage{}, sqlrecord.StoreError(ctx, op, req.Prefix, err)
	}
	defer func() { _ = rows.Close() }()
	page, err := sqlrecord.CollectPage(rows, req.Limit, func() (backends.Lock, error) {
		l, _, err := scanRecord(rows, now)
		return l, err
	})
	if err != nil {
		return backends.ListPage{}, sqlrecord.StoreError(ctx, op, req.Prefix, err)
	}
	return page, nil
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
