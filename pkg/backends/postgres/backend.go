package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/internal/sqlrecord"
)

// Defaults for the schema objects.
const (
	DefaultSchema = "public"
	DefaultTable  = "leasehold_locks"
)

// identifierRE is what schema and table names may be: they are also spelled
// inside a string literal (the sequence's regclass), and derived names
// (sequence, migrations table) must stay within PostgreSQL's 63 bytes.
var identifierRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,39}$`)

// identifierRule is the error for a schema or table name that does not
// match identifierRE; its argument is the name.
const identifierRule = "%q must be 1 to 40 ASCII letters, digits or underscores, not starting with a digit"

// Option configures a Backend.
type Option func(*config)

type config struct {
	namespace string
	schema    string
	table     string
	migrate   bool
}

// WithNamespace scopes the Backend to namespace ("" means "default").
func WithNamespace(namespace string) Option {
	return func(c *config) {
		if namespace != "" {
			c.namespace = namespace
		}
	}
}

// WithSchema keeps the records in schema (default "public"). Names are
// 1 to 40 ASCII letters, digits and underscores, not starting with a digit;
// they are quoted, so case matters.
func WithSchema(schema string) Option { return func(c *config) { c.schema = schema } }

// WithTable names the records' table (default "leasehold_locks"), with the
// same rules as WithSchema. Its sequence and migrations table are named
// after it.
func WithTable(table string) Option { return func(c *config) { c.table = table } }

// WithMigrations sets whether Open (and the first operation of a Backend
// built with New) creates or upgrades the schema (default
// true). With false, Open only checks that the schema is there and up to
// date, for deployments whose database role may not create objects.
func WithMigrations(enabled bool) Option { return func(c *config) { c.migrate = enabled } }

// Backend keeps lock records in a PostgreSQL table, scoped to one
// namespace. Create it with New or Open.
type Backend struct {
	pool      *pgxpool.Pool
	ownsPool  bool
	cfg       config
	ident     idents
	sql       statements
	channel   string
	lockKey   int64 // advisory lock that serialises migrations of this table
	closeOnce sync.Once

	mu       sync.Mutex
	closed   bool
	listener *listener // started by the first Subscribe

	// schemaReady is set once Migrate or CheckSchema succeeded.
	schemaReady atomic.Bool
	schemaMu    sync.Mutex
}

var (
	_ backends.Backend  = (*Backend)(nil)
	_ backends.Notifier = (*Backend)(nil)
)

// Describe implements backends.Describer.
func (b *Backend) Describe() backends.Description {
	return backends.Description{Backend: "postgres", Namespace: b.cfg.namespace}
}

// New returns a Backend on pool. It performs no I/O; its first operation
// migrates the schema (or, with migrations disabled, checks it and says
// what to run), unless Migrate or CheckSchema was called first, as Open
// does. Close does not close pool. Change notifications
// use one extra connection per Backend, made from pool's configuration
// outside the pool, opened by the first Subscribe.
func New(pool *pgxpool.Pool, opts ...Option) (*Backend, error) {
	if pool == nil {
		return nil, backends.InvalidArgument("pool", "must not be nil")
	}
	cfg := config{namespace: "default", schema: DefaultSchema, table: DefaultTable, migrate: true}
	for _, opt := range opts {
		opt(&cfg)
	}
	if !identifierRE.MatchString(cfg.schema) {
		return nil, backends.InvalidArgument("schema", identifierRule, cfg.schema)
	}
	if !identifierRE.MatchString(cfg.table) {
		return nil, backends.InvalidArgument("table", identifierRule, cfg.table)
	}
	b := &Backend{pool: pool, cfg: cfg, ident: newIdents(cfg.schema, cfg.table)}
	b.sql = newStatements(b.ident)
	// One channel per table: every Backend on the table hears every change
	// and keeps those of its namespace.
	// A hash keeps the channel within PostgreSQL's 63-byte names.
	b.channel = fmt.Sprintf("leasehold_%016x", uint64(advisoryKey(cfg.schema, cfg.table)))
	b.lockKey = advisoryKey(cfg.schema, cfg.table)
	return b, nil
}

// check returns the error for a call that must not proceed.
func (b *Backend) check(ctx context.Context, op, key string) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if err := backends.CheckCall(ctx, closed, op, key); err != nil {
		return err
	}
	if b.schemaReady.Load() {
		return nil
	}
	return b.ensureSchema(ctx, op, key)
}

// ensureSchema readies a Backend built with New whose caller did not call
// Migrate: on its first operation it migrates (or, with migrations
// disabled, checks the schema, whose error says what to run), once. Open
// has done this already.
func (b *Backend) ensureSchema(ctx context.Context, op, key string) error {
	b.schemaMu.Lock()
	defer b.schemaMu.Unlock()
	if b.schemaReady.Load() {
		return nil
	}
	var err error
	if b.cfg.migrate {
		err = b.Migrate(ctx)
	} else {
		err = b.CheckSchema(ctx)
	}
	if err != nil {
		return fmt.Errorf("%s %q: %w", op, key, err)
	}
	return nil
}

// scanRecord reads one row of recordColumns plus any extra destinations.
func scanRecord(row pgx.Row, extra ...any) (backends.Lock, error) {
	var (
		l       backends.Lock
		token   int64
		leaseMS int64
		md      []byte
	)
	dest := append([]any{&l.Key, &l.Holder, &l.Version, &token, &l.AcquiredAt, &l.RenewedAt, &l.ExpiresAt, &leaseMS, &md, &l.Held}, extra...)
	if err := row.Scan(dest...); err != nil {
		return backends.Lock{}, err
	}
	l.FencingToken = uint64(token)
	l.LeaseDuration = time.Duration(leaseMS) * time.Millisecond
	var err error
	if l.Metadata, err = sqlrecord.DecodeMetadata(md); err != nil {
		return backends.Lock{}, err
	}
	return l, nil
}

// read is the failure path's read: it tells which error applies. Liveness
// is judged by the server's clock, in the read itself.
func (b *Backend) read(ctx context.Context, key string) (sqlrecord.Current, error) {
	var c sqlrecord.Current
	var deleted bool
	err := b.pool.QueryRow(ctx, b.sql.read, b.cfg.namespace, key).Scan(&c.Holder, &c.Version, &c.Expires, &c.Live, &deleted)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return c, nil
	case err != nil:
		return c, err
	}
	c.Exists = !deleted
	return c, nil
}

// Acquire implements backends.Backend.
func (b *Backend) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	const op = "acquiring"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	return sqlrecord.Acquire(ctx, req, pgx.ErrNoRows, b.read, func(md any) (backends.Lock, error) {
		var notified bool
		row := b.pool.QueryRow(ctx, b.sql.acquire, b.cfg.namespace, req.Key, req.Holder, req.LeaseDuration.Milliseconds(), md, b.channel)
		return scanRecord(row, &notified)
	})
}

// Renew implements backends.Backend.
func (b *Backend) Renew(ctx context.Context, req *backends.RenewRequest) (backends.Lock, error) {
	const op = "renewing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return backends.Lock{}, err
	}
	return sqlrecord.Renew(ctx, req, pgx.ErrNoRows, b.read, func(md any) (backends.Lock, error) {
		return scanRecord(b.pool.QueryRow(ctx, b.sql.renew,
			b.cfg.namespace, req.Key, req.Holder, req.Version, req.LeaseDuration.Milliseconds(), md))
	})
}

// Release implements backends.Backend.
func (b *Backend) Release(ctx context.Context, req *backends.ReleaseRequest) error {
	const op = "releasing"
	if err := b.check(ctx, op, req.Key); err != nil {
		return err
	}
	return sqlrecord.Release(ctx, req, pgx.ErrNoRows, b.read, func() error {
		var notified bool
		return b.pool.QueryRow(ctx, b.sql.release, b.cfg.namespace, req.Key, req.Holder, req.Version, req.Delete, b.channel).Scan(&notified)
	})
}

// Get implements backends.Backend.
func (b *Backend) Get(ctx context.Context, key string) (backends.Lock, error) {
	const op = "getting"
	if err := b.check(ctx, op, key); err != nil {
		return backends.Lock{}, err
	}
	l, err := scanRecord(b.pool.QueryRow(ctx, b.sql.get, b.cfg.namespace, key))
	return sqlrecord.Record(ctx, key, pgx.ErrNoRows, l, err)
}

// List implements backends.Backend. The page token is the last key of the
// previous page.
func (b *Backend) List(ctx context.Context, req *backends.ListRequest) (backends.ListPage, error) {
	const op = "listing"
	if err := b.check(ctx, op, req.Prefix); err != nil {
		return backends.ListPage{}, err
	}
	query := func(end string, bounded bool) (pgx.Rows, error) {
		if bounded {
			return b.pool.Query(ctx, b.sql.listRange, b.cfg.namespace, req.Prefix, req.PageToken, req.Limit+1, end)
		}
		return b.pool.Query(ctx, b.sql.list, b.cfg.namespace, req.Prefix, req.PageToken, req.Limit+1)
	}
	return sqlrecord.Page(ctx, req, query, pgx.Rows.Close, func(rows pgx.Rows) (backends.Lock, error) { return scanRecord(rows) })
}

// Close implements backends.Backend: it stops the notification listener
// and, if Open created the pool, closes it.
func (b *Backend) Close() error {
	b.mu.Lock()
	b.closed = true
	l := b.listener
	b.mu.Unlock()
	b.closeOnce.Do(func() {
		if l != nil {
			l.stop()
		}
		if b.ownsPool {
			b.pool.Close()
		}
	})
	return nil
}

// Subscribe implements backends.Notifier through LISTEN/NOTIFY: releases,
// deletes and takeovers of expired leases send a notification in the
// statement that makes them, delivered when it commits. The first call
// starts the Backend's listening connection; while it is (re)connecting
// waiters poll, and every subscriber gets a signal once it listens again,
// since notifications sent meanwhile are lost.
func (b *Backend) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	if err := b.check(ctx, "subscribing", key); err != nil {
		return nil, err
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, backends.KeyError("subscribing", key, backends.ErrClosed)
	}
	if b.listener == nil {
		b.listener = newListener(b.pool.Config().ConnConfig, b.channel, b.cfg.namespace)
	}
	l := b.listener
	b.mu.Unlock()
	ch := l.subscribe(ctx, key)
	// Start after the first subscription so that it, too, gets the signal
	// sent once LISTEN is in place.
	l.start()
	return ch, nil
}
