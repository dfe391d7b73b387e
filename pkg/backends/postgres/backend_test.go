package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/internal/sqlbackendtest"
	"github.com/leasehold/leasehold/pkg/backends/postgres"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// server is the package's one PostgreSQL cluster; tests isolate themselves
// by namespace, or by a database of their own where they need an empty one.
var server *testserver.Postgres

func TestMain(m *testing.M) {
	p, cleanup, err := testserver.StartPostgresForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		os.Exit(1)
	}
	server = p
	code := m.Run()
	cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// newPool returns a pool on the shared database, closed when t ends.
func newPool(t testing.TB, tune func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(server.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 20
	if tune != nil {
		tune(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func newBackend(t testing.TB, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Backend {
	t.Helper()
	b, err := postgres.New(pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func migrated(t testing.TB, pool *pgxpool.Pool, opts ...postgres.Option) *postgres.Backend {
	t.Helper()
	b := newBackend(t, pool, opts...)
	if err := b.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	pool := newPool(t, nil)
	migrated(t, pool)
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			return newBackend(t, pool, postgres.WithNamespace(namespace))
		},
		// timestamptz keeps microseconds.
		TimeTolerance: time.Millisecond,
	})
}

// countingTracer counts the statements a pool sends and the statements it
// prepares.
type countingTracer struct {
	mu       sync.Mutex
	queries  []string
	prepares int
}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.queries = append(c.queries, strings.Fields(d.SQL)[0])
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *countingTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, _ pgx.TracePrepareStartData) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prepares++
	return ctx
}

func (c *countingTracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (c *countingTracer) take() ([]string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	q, p := c.queries, c.prepares
	c.queries, c.prepares = nil, 0
	return q, p
}

// TestStatementsPerOperation asserts that acquire, renew and release each
// send exactly one statement on the uncontended path, and once the
// connection has cached it, no separate prepare round trip either.
func TestStatementsPerOperation(t *testing.T) {
	tracer := &countingTracer{}
	pool := newPool(t, func(c *pgxpool.Config) {
		c.ConnConfig.Tracer = tracer
		c.MaxConns = 1 // one connection, so that its statement cache is warm
	})
	b := migrated(t, pool, postgres.WithNamespace("statements"))
	ctx := context.Background()

	steps, l := sqlbackendtest.StatementSteps(ctx, b)
	steps = append(steps, sqlbackendtest.Step{Name: "ReleaseAgain", Do: func() error {
		return b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "c", Version: l.Version, Delete: true})
	}})
	// The first round warms the connection's statement cache.
	for round := range 2 {
		tracer.take()
		for _, s := range steps {
			if err := s.Do(); err != nil {
				t.Fatalf("round %d %s: %v", round, s.Name, err)
			}
			queries, prepares := tracer.take()
			if len(queries) != 1 {
				t.Errorf("round %d %s sent %d statements %v, want 1", round, s.Name, len(queries), queries)
			}
			if round == 1 && prepares != 0 {
				t.Errorf("%s prepared %d statements on a warm connection, want 0", s.Name, prepares)
			}
		}
	}
	// The refused path may read once more to name the error.
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	tracer.take()
	_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "d", LeaseDuration: time.Minute})
	if !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("Acquire of a held lock: %v", err)
	}
	if queries, _ := tracer.take(); len(queries) != 2 {
		t.Errorf("refused Acquire sent %d statements %v, want 2", len(queries), queries)
	}
}

// Clients with pools of their own take turns on one key, releasing with
// delete every other time. While a client holds the key nobody else can be
// granted it, so checking each token against the last one under a mutex
// sees grants in grant order: every token must exceed the one before.
func TestFencingTokensRiseUnderConcurrentDeletes(t *testing.T) {
	const clients, grants = 4, 15
	pool := newPool(t, nil)
	migrated(t, pool)
	var mu sync.Mutex
	var last uint64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		m := lockmanager.New(newBackend(t, newPool(t, nil), postgres.WithNamespace("fencing-race")))
		t.Cleanup(func() { _ = m.Close() }) // ends its lingering subscriptions
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			holder := fmt.Sprintf("client-%d", c)
			for i := range grants {
				l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: holder, LeaseDuration: time.Minute, Wait: time.Minute, RefreshPeriod: 50 * time.Millisecond})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if l.FencingToken <= last {
					mu.Unlock()
					errs <- fmt.Errorf("%s got token %d after token %d", holder, l.FencingToken, last)
					return
				}
				last = l.FencingToken
				mu.Unlock()
				if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: holder, Version: l.Version, Delete: (i+c)%2 == 0}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// withParams returns u with query parameters added.
func withParams(t *testing.T, raw string, kv ...string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	for i := 0; i < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestOpenErrors(t *testing.T) {
	good := server.URL()
	password := server.Password()
	wrong, err := url.Parse(good)
	if err != nil {
		t.Fatal(err)
	}
	wrong.User = url.UserPassword("leasehold", password+"-wrong")
	unreachable := fmt.Sprintf("postgres://leasehold:%s@127.0.0.1:%d/leasehold?sslmode=disable&connect_timeout=5", password, closedPort(t))
	for _, tc := range []struct {
		name, url string
		want      error
		mention   string
	}{
		{"Malformed", "postgres://leasehold:" + password + "@127.0.0.1:%zz/x", backends.ErrInvalidArgument, "cannot be parsed"},
		{"BadPort", "postgres://leasehold:" + password + "@127.0.0.1:99999/x", backends.ErrInvalidArgument, "PostgreSQL"},
		{"UnknownSSLMode", withParams(t, good, "sslmode", "sometimes"), backends.ErrInvalidArgument, "sslmode"},
		{"Unreachable", unreachable, backends.ErrUnavailable, "connect"},
		{"WrongPassword", wrong.String(), backends.ErrUnavailable, "refused the login"},
		{"MissingDatabase", strings.Replace(good, "/leasehold?", "/nosuchdb?", 1), backends.ErrUnavailable, "nosuchdb"},
		{"UnknownParameter", withParams(t, good, "frobnicate", "1"), backends.ErrInvalidArgument, "frobnicate"},
		{"MissingSchemaWithoutMigrations", withParams(t, good, "leasehold_schema", "nosuchschema", "leasehold_migrate", "false"), backends.ErrUnavailable, "does not exist"},
		{"BadSchemaName", withParams(t, good, "leasehold_schema", `bad"name`), backends.ErrInvalidArgument, "schema"},
		{"BadTableName", withParams(t, good, "leasehold_table", "1table"), backends.ErrInvalidArgument, "table"},
		{"BadMigrateFlag", withParams(t, good, "leasehold_migrate", "perhaps"), backends.ErrInvalidArgument, "leasehold_migrate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := backends.Open(ctx, tc.url)
			if err == nil {
				_ = b.Close()
				t.Fatalf("Open succeeded, want %v", tc.want)
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
			if strings.Contains(err.Error(), password) {
				t.Fatalf("error %q contains the password", err)
			}
		})
	}
}

// Eight processes' worth of Open on a fresh database at once: the advisory
// lock makes them migrate one after another, and all succeed.
func TestConcurrentOpenMigratesOnce(t *testing.T) {
	dbURL := withParams(t, server.NewDatabase(t), "leasehold_schema", "Locks", "leasehold_table", "lease_records")
	ctx := context.Background()
	const n = 8
	var wg sync.WaitGroup
	clients := make([]backends.Backend, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			clients[i], errs[i] = backends.Open(ctx, withParams(t, dbURL, "leasehold_namespace", "ns"))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		defer func() { _ = clients[i].Close() }()
	}
	if _, err := clients[0].Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := clients[n-1].Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("second client: %v, want ErrLockHeld", err)
	}
	conn, err := pgx.Connect(ctx, dbURL[:strings.Index(dbURL, "?")]+"?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	var applied int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM "Locks"."lease_records_migrations"`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != 1 {
		t.Fatalf("migrations table has %d rows, want 1 (each migration applied once)", applied)
	}
	// With migrations disabled, Open accepts the schema that is there.
	b, err := backends.Open(ctx, withParams(t, dbURL, "leasehold_migrate", "false"))
	if err != nil {
		t.Fatalf("Open without migrations on a migrated schema: %v", err)
	}
	_ = b.Close()
}

// expect waits for a signal on ch; it is a liveness bound, not a speed
// goal: without a notification nothing would arrive for an hour.
func expect(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("no notification after %s", what)
	}
}

func quiet(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
		t.Fatalf("notification after %s; want them only when the lock may be free", what)
	default:
	}
}

// A subscriber hears, through LISTEN/NOTIFY, releases, deletes and
// takeovers made by another Backend with its own pool, and only those of
// its own namespace and key.
func TestNotifications(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiter := migrated(t, newPool(t, nil), postgres.WithNamespace("notify"))
	holder := newBackend(t, newPool(t, nil), postgres.WithNamespace("notify"))
	otherNS := newBackend(t, newPool(t, nil), postgres.WithNamespace("notify-other"))

	ch, err := waiter.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ch, "LISTEN took effect") // the first subscriber is told once listening

	// A release in another namespace, and of another key, is not ours.
	for _, tc := range []struct {
		b   *postgres.Backend
		key string
	}{{otherNS, "k"}, {holder, "other"}} {
		l, err := tc.b.Acquire(ctx, &backends.AcquireRequest{Key: tc.key, Holder: "a", LeaseDuration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if err := tc.b.Release(ctx, &backends.ReleaseRequest{Key: tc.key, Holder: "a", Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
	l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	// Notifications arrive in commit order, so this one follows the
	// unrelated ones above; after it nothing else may be pending.
	expect(t, ch, "a release")
	quiet(t, ch, "a grant of a free key and unrelated releases")

	l, err = holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for {
		time.Sleep(time.Until(l.ExpiresAt) + 10*time.Millisecond)
		if l, err = holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Hour}); err == nil {
			break
		}
		if !errors.Is(err, backends.ErrLockHeld) {
			t.Fatal(err)
		}
	}
	expect(t, ch, "a takeover of an expired lease")
	if err := holder.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "b", Version: l.Version, Delete: true}); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, "a delete")

	cancel()
	for range ch { // closed once the subscription ends
	}
}

// The listening connection comes back after the server kills it, tells
// subscribers to look again (notifications may have been lost), and
// delivers notifications as before.
func TestListenerReconnects(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	waiter := migrated(t, newPool(t, nil), postgres.WithNamespace("reconnect"))
	holder := newBackend(t, newPool(t, nil), postgres.WithNamespace("reconnect"))
	ch, err := waiter.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	expect(t, ch, "LISTEN took effect")

	admin, err := pgx.Connect(ctx, server.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }()
	var killed int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("found no listening connection to terminate")
	}
	expect(t, ch, "the listener reconnected")

	l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	expect(t, ch, "a release after reconnecting")
}

// Open by URL strips Leasehold's parameters, scopes by namespace and owns
// its pool.
func TestOpenURLNamespaces(t *testing.T) {
	ctx := context.Background()
	a, err := backends.Open(ctx, withParams(t, server.URL(), "leasehold_namespace", "url-a"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Close() }()
	b, err := backends.Open(ctx, strings.Replace(withParams(t, server.URL(), "leasehold_namespace", "url-b"), "postgres://", "postgresql://", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	if _, err := a.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "x", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "y", LeaseDuration: time.Minute}); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
}

func benchBackend(b *testing.B) *postgres.Backend {
	b.Helper()
	pool := newPool(b, nil)
	return migrated(b, pool, postgres.WithNamespace(fmt.Sprintf("bench-%d", time.Now().UnixNano())))
}

func BenchmarkAcquireRelease(b *testing.B) {
	sqlbackendtest.BenchmarkAcquireRelease(b, benchBackend(b))
}

func BenchmarkRenew(b *testing.B) {
	sqlbackendtest.BenchmarkRenew(b, benchBackend(b))
}

// BenchmarkContendedAcquire has parallel clients race for one key through
// one Backend (one pool); a winner releases at once. Every iteration is one
// attempt, granted or refused.
func BenchmarkContendedAcquire(b *testing.B) {
	be := benchBackend(b)
	sqlbackendtest.BenchmarkContendedAcquire(b, func() backends.Backend { return be })
}

// Prefixes whose range ends at a rune boundary (a multi-byte rune, the
// last code point, the edge of the surrogates) select exactly their keys,
// in byte order.
func TestListPrefixAtRuneBoundaries(t *testing.T) {
	b := newBackend(t, newPool(t, nil), postgres.WithNamespace("runes"))
	if err := b.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	sqlbackendtest.ListPrefixAtRuneBoundaries(t, b)
}

// A Backend built with New on a pool works without a separate Migrate call
// (its first operation migrates, once), and with migrations disabled its
// first operation says what to run.
func TestNewMigratesOnFirstUseOrSaysWhatToRun(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t, nil)
	b := newBackend(t, pool, postgres.WithTable("lazy_migrated"))
	l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "me", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatalf("first Acquire of a Backend built with New: %v", err)
	}
	if err := b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "me", Version: l.Version}); err != nil {
		t.Fatal(err)
	}

	strict := newBackend(t, pool, postgres.WithTable("never_migrated"), postgres.WithMigrations(false))
	_, err = strict.Get(ctx, "k")
	if !errors.Is(err, backends.ErrUnavailable) || !strings.Contains(err.Error(), "run Migrate") {
		t.Fatalf("Get on a missing table with migrations disabled: %v; want ErrUnavailable saying to run Migrate", err)
	}
}
