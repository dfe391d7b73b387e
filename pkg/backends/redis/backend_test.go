package redis_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/test/support/testserver"
)

// server is the package's shared redis-server, client a client of it that
// the conformance backends share.
var (
	server *testserver.Redis
	client *goredis.Client
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	r, cleanup, err := testserver.StartRedisForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	server = r
	opts, err := goredis.ParseURL(r.URL())
	if err != nil {
		cleanup()
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	client = goredis.NewClient(opts)
	code := m.Run()
	_ = client.Close()
	cleanup()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

func newBackend(t testing.TB, c goredis.UniversalClient, opts ...lhredis.Option) *lhredis.Backend {
	t.Helper()
	b, err := lhredis.New(c, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestConformance(t *testing.T) {
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			b, err := lhredis.New(client, lhredis.WithNamespace(namespace))
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return b
		},
		// Times are kept in microseconds.
		TimeTolerance: time.Microsecond,
	})
}

func acquire(t testing.TB, b backends.Backend, key, holder string, md map[string]string) backends.Lock {
	t.Helper()
	l, err := b.Acquire(context.Background(), &backends.AcquireRequest{Key: key, Holder: holder, LeaseDuration: time.Minute, Metadata: md})
	if err != nil {
		t.Fatalf("Acquire(%q, %q): %v", key, holder, err)
	}
	return l
}

func release(t testing.TB, b backends.Backend, l backends.Lock, del bool) {
	t.Helper()
	if err := b.Release(context.Background(), &backends.ReleaseRequest{Key: l.Key, Holder: l.Holder, Version: l.Version, Delete: del}); err != nil {
		t.Fatalf("Release(%q): %v", l.Key, err)
	}
}

// The server restarts without persistence and loses every record and
// fence; the next grant's token is still above every token issued before.
func TestTokensSurviveDataLosingRestart(t *testing.T) {
	r := testserver.StartRedis(t)
	opts, err := goredis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	b := newBackend(t, c)
	ctx := context.Background()

	var highest uint64
	for i := range 5 { // grants, releases and deletes raise the floor
		l := acquire(t, b, "k", fmt.Sprintf("h%d", i), nil)
		if l.FencingToken <= highest {
			t.Fatalf("grant %d token %d, want above %d", i, l.FencingToken, highest)
		}
		highest = l.FencingToken
		release(t, b, l, i%2 == 0)
	}
	held := acquire(t, b, "k", "before-restart", nil)
	highest = held.FencingToken

	if err := r.Restart(); err != nil {
		t.Fatalf("Restart: %v", err)
	}
	if n, err := c.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Fatalf("after restart DBSIZE = %d, %v; want an empty server", n, err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Get after restart: %v, want ErrNotFound (the data is gone)", err)
	}
	after := acquire(t, b, "k", "after-restart", nil)
	if after.FencingToken <= highest {
		t.Fatalf("token after a data-losing restart %d, want above %d", after.FencingToken, highest)
	}
}

// countingHook counts the commands a client sends (a pipeline's commands
// one by one).
type countingHook struct {
	mu    sync.Mutex
	names []string
	dials int // new connections, pooled or PubSub
}

func (h *countingHook) DialHook(next goredis.DialHook) goredis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		h.mu.Lock()
		h.dials++
		h.mu.Unlock()
		return next(ctx, network, addr)
	}
}

// dialed returns the connections dialled so far.
func (h *countingHook) dialed() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dials
}

func (h *countingHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.mu.Lock()
		h.names = append(h.names, cmd.Name())
		h.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (h *countingHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			h.names = append(h.names, c.Name())
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *countingHook) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := h.names
	h.names = nil
	return out
}

// commandCalls reads INFO commandstats: calls per command since start.
func commandCalls(t *testing.T, c *goredis.Client) map[string]int {
	t.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.Atoi(calls)
		if err != nil {
			t.Fatalf("commandstats line %q", line)
		}
		out[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return out
}

// Each of acquire, renew and release is one EVALSHA on the uncontended path
// once the scripts are loaded: one command from the client, and on the
// server one evalsha and no eval or script load. The commands the scripts
// run inside are pinned too, as they are the server's cost per operation:
// one read, one write (whose PX sets the TTL), the time only where a lease
// is judged or stamped, and the fence only when the record is absent.
func TestOneRoundTripPerOperation(t *testing.T) {
	r := testserver.StartRedis(t) // commandstats of our own
	opts, err := goredis.ParseURL(r.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	hook := &countingHook{}
	c.AddHook(hook)
	b := newBackend(t, c)
	ctx := context.Background()

	// Load the scripts: the first run of each costs NOSCRIPT + EVAL.
	warm := acquire(t, b, "warm", "a", nil)
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "warm", Holder: "a", Version: warm.Version, LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	release(t, b, acquire(t, b, "warm2", "a", nil), false)

	var l backends.Lock
	for _, tc := range []struct {
		op    string
		inner map[string]int // commands the script runs
		run   func() error
	}{
		// "k" has no record yet, so the grant reads its (absent) fence.
		{"acquire", map[string]int{"get": 2, "time": 1, "set": 1}, func() (err error) {
			l, err = b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute, Metadata: map[string]string{"m": "1"}})
			return err
		}},
		{"renew", map[string]int{"get": 1, "time": 1, "set": 1}, func() (err error) {
			l, err = b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: time.Minute})
			return err
		}},
		{"release", map[string]int{"get": 1, "set": 1, "publish": 1}, func() error {
			return b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version})
		}},
	} {
		t.Run(tc.op, func(t *testing.T) {
			before := commandCalls(t, c)
			hook.take()
			if err := tc.run(); err != nil {
				t.Fatal(err)
			}
			sent := hook.take()
			after := commandCalls(t, c)
			if diff := cmp.Diff([]string{"evalsha"}, sent); diff != "" {
				t.Fatalf("commands sent by the client (-want +got):\n%s", diff)
			}
			delta := map[string]int{}
			for name, n := range after {
				if d := n - before[name]; d != 0 && name != "info" {
					delta[name] = d
				}
			}
			t.Logf("%s: server commandstats delta %v", tc.op, delta)
			if delta["evalsha"] != 1 || delta["eval"] != 0 || delta["script|load"] != 0 {
				t.Fatalf("%s: evalsha +%d, eval +%d, script load +%d; want exactly one evalsha", tc.op, delta["evalsha"], delta["eval"], delta["script|load"])
			}
			delete(delta, "evalsha")
			if diff := cmp.Diff(tc.inner, delta); diff != "" {
				t.Fatalf("%s: commands run by the script (-want +got):\n%s", tc.op, diff)
			}
		})
	}
}

// hashTag returns the part of a Redis key that Cluster hashes: the text
// between the first '{' and the next '}', if not empty, else the key.
func hashTag(key string) string {
	open := strings.IndexByte(key, '{')
	if open < 0 {
		return key
	}
	end := strings.IndexByte(key[open+1:], '}')
	if end <= 0 {
		return key
	}
	return key[open+1 : open+1+end]
}

// Keys, holders and metadata that break string-joined formats round-trip
// exactly, and every key of one lock has the same Cluster hash tag, derived
// from the key however many braces it has.
func TestHostileNamesRoundTripAndShareOneSlot(t *testing.T) {
	b := newBackend(t, client, lhredis.WithPrefix("hostile"), lhredis.WithNamespace("names"))
	ctx := context.Background()
	md := map[string]string{
		"a:b#c{d}": "x:y#z{w}",
		"quotes":   `"double" 'single'`,
		"newlines": "line1\nline2\r\n",
		"ünï":      "值 🚀",
		"empty":    "",
	}
	for _, name := range []string{"{}", "a{b}c", "}{", "{{x}}", "a:b#c", `q"'`, "ünïcødé 键", "{", "}"} {
		l := acquire(t, b, name, name, md)
		got, err := b.Get(ctx, name)
		if err != nil {
			t.Fatalf("Get(%q): %v", name, err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Fatalf("Get(%q) (-acquired +got):\n%s", name, diff)
		}
		if got.Key != name || got.Holder != name {
			t.Fatalf("key %q holder %q round-tripped as %q %q", name, name, got.Key, got.Holder)
		}
		if diff := cmp.Diff(md, got.Metadata); diff != "" {
			t.Fatalf("metadata of %q (-want +got):\n%s", name, diff)
		}
		release(t, b, l, true) // leaves the fence key
		tag := hex.EncodeToString([]byte(name))
		keys, err := client.Keys(ctx, "hostile:names:{"+tag+"}*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 {
			t.Fatalf("keys of %q after delete = %q, want the fence", name, keys)
		}
		if got := hashTag(keys[0]); got != tag {
			t.Fatalf("fence %q has hash tag %q, want %q", keys[0], got, tag)
		}
		l = acquire(t, b, name, name, nil)
		keys, err = client.Keys(ctx, "hostile:names:{"+tag+"}*").Result()
		if err != nil || len(keys) != 1 || hashTag(keys[0]) != tag {
			t.Fatalf("record keys of %q = %q, %v; want one key with hash tag %q", name, keys, err, tag)
		}
		release(t, b, l, false)
	}
}

// The retention rule of the package documentation: a record's TTL is
// lease + retention after a grant, retention after a release, and a
// deleted record leaves its fence for retention.
func TestRetentionRule(t *testing.T) {
	const retention = time.Hour
	b := newBackend(t, client, lhredis.WithPrefix("retention"), lhredis.WithRetention(retention))
	ctx := context.Background()
	pttl := func(key string) time.Duration {
		t.Helper()
		d, err := client.PTTL(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	within := func(what string, got, want time.Duration) {
		t.Helper()
		// PTTL counts down from the write; a few seconds cover a slow run.
		if got > want || got < want-5*time.Second {
			t.Fatalf("%s TTL = %s, want %s (just under)", what, got, want)
		}
	}
	record := "retention:default:{" + hex.EncodeToString([]byte("k")) + "}"
	l := acquire(t, b, "k", "a", nil)
	within("record after grant", pttl(record), time.Minute+retention)
	release(t, b, l, false)
	within("record after release", pttl(record), retention)
	l = acquire(t, b, "k", "a", nil)
	release(t, b, l, true)
	if n, _ := client.Exists(ctx, record).Result(); n != 0 {
		t.Fatal("record still exists after release with delete")
	}
	within("fence after delete", pttl(record+":fence"), retention)
	fence, err := client.Get(ctx, record+":fence").Uint64()
	if err != nil || fence != l.FencingToken {
		t.Fatalf("fence = %d, %v; want the deleted grant's token %d", fence, err, l.FencingToken)
	}
}

func TestNewRejectsBadNames(t *testing.T) {
	for _, tc := range []struct {
		name, field string
		opt         lhredis.Option
	}{
		{"BraceInPrefix", "prefix", lhredis.WithPrefix("a{b")},
		{"BraceInNamespace", "namespace", lhredis.WithNamespace("x}")},
		{"EmptyPrefix", "prefix", lhredis.WithPrefix("")},
		{"ShortRetention", "retention", lhredis.WithRetention(time.Millisecond)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := lhredis.New(client, tc.opt)
			if !errors.Is(err, backends.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: %v, want ErrInvalidArgument naming %s", err, tc.field)
			}
		})
	}
	// As in every backend, an empty namespace means "default".
	b, err := lhredis.New(client, lhredis.WithNamespace(""))
	if err != nil {
		t.Fatalf("New with an empty namespace: %v", err)
	}
	if ns := b.Describe().Namespace; ns != "default" {
		t.Fatalf("New with an empty namespace: namespace %q, want \"default\"", ns)
	}
}

// A release on one Backend wakes a waiter subscribed through another
// (over pub/sub), only that key's waiters, and the subscription's channel
// closes when its context ends.
func TestSubscribeWakesOnReleaseAcrossClients(t *testing.T) {
	holder := newBackend(t, client, lhredis.WithNamespace("notify"))
	waiter := newBackend(t, client, lhredis.WithNamespace("notify"))
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
	l := acquire(t, holder, "k", "a", nil)
	release(t, holder, l, false)
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("no signal 20s after the release")
	}
	select {
	case <-other:
		t.Fatal("a waiter on another key was signalled")
	default:
	}
	cancel()
	for range ch { // closed once the subscription ends
	}
	for range other {
	}
}

// Close ends the subscription even while waiters are subscribed, and
// Subscribe after Close is ErrClosed.
func TestCloseEndsSubscription(t *testing.T) {
	b, err := lhredis.New(client, lhredis.WithNamespace("close"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(context.Background(), "k"); !errors.Is(err, backends.ErrClosed) {
		t.Fatalf("Subscribe after Close: %v, want ErrClosed", err)
	}
	cancel()
	for range ch {
	}
	// goleak in TestMain checks that the reading goroutine ended.
}
