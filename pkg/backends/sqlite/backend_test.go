package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
	msqlite "modernc.org/sqlite"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/internal/sqlbackendtest"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// helperEnv, when set, makes the test binary a helper process of
// TestSeveralProcessesShareOneFile instead of running tests.
const helperEnv = "LEASEHOLD_SQLITE_HELPER_URL"

func TestMain(m *testing.M) {
	if u := os.Getenv(helperEnv); u != "" {
		os.Exit(runHelper(u))
	}
	goleak.VerifyTestMain(m)
}

// helperGrants is how many grants each helper process takes.
const helperGrants = 15

// runHelper takes the key "shared" helperGrants times, waiting for it,
// prints each grant's fencing token, and releases it, deleting the record
// every other time.
func runHelper(u string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := lockmanager.Open(ctx, u)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = m.Close() }()
	holder := fmt.Sprintf("pid-%d", os.Getpid())
	for i := range helperGrants {
		l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "shared", Holder: holder, LeaseDuration: time.Minute, Wait: time.Minute, RefreshPeriod: 10 * time.Millisecond})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(l.FencingToken)
		time.Sleep(2 * time.Millisecond) // hold it a moment, so that the others wait
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "shared", Holder: holder, Version: l.Version, Delete: i%2 == 0}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// Several processes take turns on one key in one file. Each grant's token
// is the previous grant's + 1, so the tokens all processes saw are exactly
// 1..N, each once, if and only if every grant saw the one before it: no
// two processes held the key at once and no delete lost the token history.
func TestSeveralProcessesShareOneFile(t *testing.T) {
	u := fileURL(t, "procs")
	const procs = 3
	outs := make([]bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+u)
		cmd.Stdout = &outs[i]
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	seen := map[uint64]int{}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("helper %d: %v", i, err)
		}
		for _, f := range strings.Fields(outs[i].String()) {
			tok, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				t.Fatalf("helper %d printed %q", i, f)
			}
			seen[tok]++
		}
	}
	const total = procs * helperGrants
	if len(seen) != total {
		t.Fatalf("%d distinct tokens, want %d: %v", len(seen), total, seen)
	}
	for tok := uint64(1); tok <= total; tok++ {
		if seen[tok] != 1 {
			t.Fatalf("token %d granted %d times, want once (tokens %v)", tok, seen[tok], seen)
		}
	}
}

// fileURL returns a sqlite URL for a fresh database file of t.
func fileURL(t testing.TB, namespace string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "locks.db")
	return "sqlite://" + (&url.URL{Path: path}).EscapedPath() + "?namespace=" + url.QueryEscape(namespace)
}

func open(t testing.TB, rawURL string) *sqlite.Backend {
	t.Helper()
	b, err := sqlite.Open(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Every client the suite opens has a *sql.DB of its own on one file, as
// separate processes would.
func TestConformance(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.db")
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			return open(t, "sqlite://"+path+"?namespace="+namespace)
		},
		// Times are stored as Unix milliseconds.
		TimeTolerance: time.Millisecond,
	})
}

// A :memory: database shared by every namespace through one *sql.DB.
func TestConformanceInMemory(t *testing.T) {
	db := memoryDB(t)
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			b, err := sqlite.New(db, sqlite.WithNamespace(namespace))
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		TimeTolerance: time.Millisecond,
	})
}

func memoryDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", sqlite.DSN(":memory:", time.Second))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { _ = db.Close() })
	b, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestOpenURLs(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	for _, tc := range []struct {
		name, url string
		wantErr   error
	}{
		{"AbsolutePath", "sqlite://" + dir + "/a.db", nil},
		{"LocalhostHost", "sqlite://localhost" + dir + "/b.db", nil},
		{"PathNeedingEscapes", "sqlite://" + dir + "/c%20%3F%23.db?namespace=team-a", nil},
		{"Memory", "sqlite://:memory:", nil},
		{"MemoryOpaque", "sqlite::memory:?namespace=x&busy_timeout=2s", nil},
		{"RemoteHost", "sqlite://db.example.com/locks.db", backends.ErrInvalidArgument},
		{"NoPath", "sqlite://", backends.ErrInvalidArgument},
		{"UnknownParameter", "sqlite://" + dir + "/d.db?namespce=x", backends.ErrInvalidArgument},
		{"BadBusyTimeout", "sqlite://" + dir + "/e.db?busy_timeout=soon", backends.ErrInvalidArgument},
		{"Malformed", "sqlite://%zz", backends.ErrInvalidArgument},
		{"MissingFolder", "sqlite://" + dir + "/no/such/folder/f.db", backends.ErrUnavailable},
		{"PathIsAFolder", "sqlite://" + dir, backends.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := backends.Open(ctx, tc.url)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Open(%q): %v", tc.url, err)
				}
				if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "h", LeaseDuration: time.Second}); err != nil {
					t.Fatalf("Acquire: %v", err)
				}
				if err := b.Close(); err != nil {
					t.Fatal(err)
				}
				return
			}
			t.Logf("Open: %v", err)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Open(%q) = %v, want %v", tc.url, err, tc.wantErr)
			}
		})
	}
}

// The namespace in the URL scopes the locks; the same file with another
// namespace is another set of locks.
func TestURLNamespace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locks.db")
	a := open(t, "sqlite://"+path+"?namespace=team-a")
	a2 := open(t, "sqlite://"+path+"?namespace=team-a")
	b := open(t, "sqlite://"+path) // "default"
	ctx := context.Background()
	if _, err := a.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "x", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := a2.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "y", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("same namespace: %v, want ErrLockHeld", err)
	}
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "y", LeaseDuration: time.Minute}); err != nil {
		t.Fatalf("default namespace: %v", err)
	}
}

// Two Backends opened on one file in one process share notifications:
// a subscriber of one hears releases, deletes and takeovers made through
// the other, and nothing else.
func TestNotificationAcrossBackendsOnOneFile(t *testing.T) {
	u := fileURL(t, "n")
	holder, waiter := open(t, u), open(t, u)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := waiter.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	other, err := waiter.Subscribe(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	expect := func(what string) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(time.Minute):
			t.Fatalf("no signal after %s", what)
		}
	}
	// caughtUp waits until the waiter's commit watcher has run a whole
	// check since the last commit, so that whatever it would signal for
	// that commit has been signalled; settle also drops those signals (a
	// release is heard twice: from the releasing Backend in this process
	// and from the watcher; the contract allows the second).
	caughtUp := func() {
		t.Helper()
		r := waiter.WatchRounds()
		for deadline := time.Now().Add(time.Minute); waiter.WatchRounds() < r+2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the commit watcher made no progress in a minute")
			}
		}
	}
	settle := func() {
		t.Helper()
		caughtUp()
		for len(ch) > 0 {
			<-ch
		}
	}
	quiet := func(what string) {
		t.Helper()
		caughtUp()
		select {
		case <-ch:
			t.Fatalf("signal after %s; want signals only when the lock may be free", what)
		case <-other:
			t.Fatalf("signal for another key after %s", what)
		default:
		}
	}
	l, err := holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	quiet("a grant of a free key")
	if err := holder.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	expect("a release")
	settle()
	l, err = holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	quiet("a grant of a released key")
	for {
		// Wait for the one-second lease to run out, then take it over.
		time.Sleep(time.Until(l.ExpiresAt) + 10*time.Millisecond)
		if l, err = holder.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Hour}); err == nil {
			break
		}
		if !errors.Is(err, backends.ErrLockHeld) {
			t.Fatal(err)
		}
	}
	expect("a takeover of an expired lease")
	if err := holder.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "b", Version: l.Version, Delete: true}); err != nil {
		t.Fatal(err)
	}
	expect("a delete")
	cancel()
	for range ch { // closed once the subscription ends
	}
}

// countingDriver counts the statements sent to SQLite.
type countingDriver struct {
	mu    sync.Mutex
	stmts []string
}

func (d *countingDriver) record(q string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stmts = append(d.stmts, strings.Fields(q)[0])
}

func (d *countingDriver) take() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stmts
	d.stmts = nil
	return s
}

// TestStatementsPerOperation asserts that acquire, renew and release each
// send exactly one statement on the uncontended path: the decision and the
// write are one statement, with no read before it.
type countingConnector struct {
	d   *countingDriver
	dsn string
}

func (c countingConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := (&msqlite.Driver{}).Open(c.dsn)
	if err != nil {
		return nil, err
	}
	return countingConn{Conn: conn, d: c.d}, nil
}

func (c countingConnector) Driver() driver.Driver { return &msqlite.Driver{} }

// countingConn records every statement the pool sends, however it is sent.
type countingConn struct {
	driver.Conn
	d *countingDriver
}

func (c countingConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	c.d.record(q)
	return c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
}

func (c countingConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	c.d.record(q)
	return c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
}

func (c countingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	c.d.record(q)
	return c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
}

func (c countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.d.record("BEGIN")
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func TestStatementsPerOperation(t *testing.T) {
	counter := &countingDriver{}
	db := sql.OpenDB(countingConnector{d: counter, dsn: sqlite.DSN(filepath.Join(t.TempDir(), "locks.db"), time.Second)})
	t.Cleanup(func() { _ = db.Close() })
	b, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	counter.take()

	steps, _ := sqlbackendtest.StatementSteps(ctx, b)
	for _, s := range steps {
		if err := s.Do(); err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		if got := counter.take(); len(got) != 1 {
			t.Errorf("%s sent %d statements %v, want 1", s.Name, len(got), got)
		}
	}
	// The refused path may read once more to name the error.
	_, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "d", LeaseDuration: time.Minute})
	if !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("Acquire of a held lock: %v", err)
	}
	if got := counter.take(); len(got) != 2 {
		t.Errorf("refused Acquire sent %d statements %v, want 2", len(got), got)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	sqlbackendtest.BenchmarkAcquireRelease(b, open(b, fileURL(b, "bench")))
}

func BenchmarkRenew(b *testing.B) {
	sqlbackendtest.BenchmarkRenew(b, open(b, fileURL(b, "bench")))
}

// BenchmarkContendedAcquire has parallel clients, each with its own
// connection pool on one file, race for one key; a winner releases at once.
// Every iteration is one attempt, granted or refused.
func BenchmarkContendedAcquire(b *testing.B) {
	u := fileURL(b, "bench")
	sqlbackendtest.BenchmarkContendedAcquire(b, func() backends.Backend { return open(b, u) })
}

// Prefixes whose range ends at a rune boundary (a multi-byte rune, the
// last code point, the edge of the surrogates) select exactly their keys,
// in byte order.
func TestListPrefixAtRuneBoundaries(t *testing.T) {
	sqlbackendtest.ListPrefixAtRuneBoundaries(t, open(t, fileURL(t, "runes")))
}

// A waiter is woken by a release that another process commits to the same
// file. The other process is stood in for by a Backend on a *sql.DB of its
// own, which shares no in-process notifications with the waiter's; the
// waiter's poll is an hour away, so only the commit watcher can wake it.
func TestWaiterWokenByAnotherProcessRelease(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "locks.db")
	waiter := open(t, "sqlite://"+(&url.URL{Path: path}).EscapedPath())
	db, err := sql.Open("sqlite", sqlite.DSN(path, 5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	other, err := sqlite.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })

	for round := range 3 {
		l, err := other.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "elsewhere", LeaseDuration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		subCtx, cancel := context.WithCancel(ctx)
		ch, err := waiter.Subscribe(subCtx, "k")
		if err != nil {
			t.Fatal(err)
		}
		// A renewal by the holder is no reason to wake anyone; the
		// release that follows is.
		if l, err = other.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "elsewhere", Version: l.Version, LeaseDuration: time.Hour}); err != nil {
			t.Fatal(err)
		}
		if err := other.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "elsewhere", Version: l.Version, Delete: round == 1}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(30 * time.Second):
			t.Fatalf("round %d: no signal for a release committed by another connection", round)
		}
		got, err := waiter.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "here", LeaseDuration: time.Hour})
		if err != nil {
			t.Fatalf("round %d: the woken waiter's try: %v", round, err)
		}
		if err := waiter.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "here", Version: got.Version}); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
}
