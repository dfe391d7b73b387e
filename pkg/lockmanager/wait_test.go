package lockmanager_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// counting passes every call to a backend and counts tries and
// subscriptions.
type counting struct {
	backends.Backend
	tries, subs atomic.Int64
}

func (c *counting) Acquire(ctx context.Context, req *backends.AcquireRequest) (backends.Lock, error) {
	c.tries.Add(1)
	return c.Backend.Acquire(ctx, req)
}

func (c *counting) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	c.subs.Add(1)
	return c.Backend.(backends.Notifier).Subscribe(ctx, key)
}

// liveness bounds how long a test waits for something that must happen;
// it is never a measured threshold.
const liveness = 10 * time.Second

// eventually waits until cond holds, failing after liveness.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(liveness); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, liveness)
		}
	}
}

// A long poll period and lease, so that in these tests only notifications
// wake a waiter.
func waitOpts(holder string) lockmanager.AcquireOptions {
	return lockmanager.AcquireOptions{Key: "k", Holder: holder, LeaseDuration: 2 * time.Hour, Wait: lockmanager.MaxWait, RefreshPeriod: time.Hour}
}

// A waiting Acquire of a free key costs what a try costs: one backend
// call and no subscription, however many times in a row.
func TestWaitingAcquireOfFreeKeyIsOneTry(t *testing.T) {
	c := &counting{Backend: memory.New()}
	m := lockmanager.New(c)
	defer m.Close()
	ctx := context.Background()
	for i := range 20 {
		l, err := m.Acquire(ctx, waitOpts("a"))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.tries.Load(); got != int64(i+1) {
			t.Fatalf("after %d waiting Acquires of a free key: %d tries, want %d", i+1, got, i+1)
		}
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.subs.Load(); got != 0 {
		t.Fatalf("%d subscriptions for waiting Acquires of a free key, want 0", got)
	}
	if n := lockmanager.Keys(m); n != 0 {
		t.Fatalf("the Manager keeps state for %d keys nobody waits for, want 0", n)
	}
}

// waitAsync starts a waiting Acquire and returns a channel with its
// outcome.
func waitAsync(ctx context.Context, m *lockmanager.Manager, holder string) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, waitOpts(holder))
		done <- err
	}()
	return done
}

// Waiting Acquires in a row on a contended key subscribe once: the
// subscription is shared while they wait and lingers between them.
func TestWaitersShareOneLingeringSubscription(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	c := &counting{Backend: store.Backend("ns")}
	m := lockmanager.New(c)
	defer m.Close()
	ctx := context.Background()
	for i := range 10 {
		h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// Three waiters of m at once, one after the other in line.
		dones := make([]<-chan error, 0, 3)
		for j := range 3 {
			dones = append(dones, waitAsync(ctx, m, string(rune('a'+j))))
			eventually(t, "waiter queued behind a live subscription", func() bool {
				n, live := lockmanager.Queued(m, "k")
				return n == j+1 && live
			})
		}
		if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
			t.Fatal(err)
		}
		for j, done := range dones {
			if err := <-done; err != nil {
				t.Fatalf("round %d, waiter %d: %v", i, j, err)
			}
			l, err := m.Get(ctx, "k")
			if err != nil {
				t.Fatal(err)
			}
			if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: l.Holder, Version: l.Version}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := c.subs.Load(); got != 1 {
		t.Fatalf("%d subscriptions for 30 waiting Acquires in 10 rounds, want 1", got)
	}
}

// A release wakes one waiter of the Manager, the one waiting longest: a
// contended hand-off costs one try per release, and a goroutine that
// releases and asks again queues behind the others.
func TestReleaseWakesOneWaiterInArrivalOrder(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	c := &counting{Backend: store.Backend("ns")}
	m := lockmanager.New(c)
	defer m.Close()
	ctx := context.Background()
	h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5
	dones := make([]<-chan error, n)
	for i := range n {
		dones[i] = waitAsync(ctx, m, string(rune('a'+i)))
		eventually(t, "waiter queued behind a live subscription", func() bool {
			q, live := lockmanager.Queued(m, "k")
			return q == i+1 && live
		})
	}
	// The first waiter tried, subscribed and tried again; the others
	// queued without trying.
	if got := c.tries.Load(); got != 2 {
		t.Fatalf("%d tries to queue %d waiters, want 2", got, n)
	}
	release := func(l lockmanager.Lock) {
		t.Helper()
		if err := m.Backend().Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: l.Holder, Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
	if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	order := []string{"a", "b", "c", "d", "e", "a"}
	for i, want := range order {
		var done <-chan error
		if i < n {
			done = dones[i]
		} else {
			done = dones[0]
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		l, err := m.Get(ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if l.Holder != want {
			t.Fatalf("grant %d went to %q, want %q (arrival order)", i, l.Holder, want)
		}
		if got, wantTries := c.tries.Load(), int64(2+i+1); got != wantTries {
			t.Fatalf("after hand-off %d: %d tries, want %d (one per release)", i, got, wantTries)
		}
		if i == 0 {
			// The first grantee releases and asks again at once: it
			// queues behind the four still waiting.
			dones[0] = waitAsync(ctx, m, "a")
			eventually(t, "the releaser queued again", func() bool {
				q, _ := lockmanager.Queued(m, "k")
				return q == n
			})
			if got := c.tries.Load(); got != 3 {
				t.Fatalf("the releaser's new Acquire tried (%d tries in all, want 3): it barged ahead of the queue", got)
			}
		}
		if i < len(order)-1 {
			release(l)
		}
	}
	if got := c.subs.Load(); got != 1 {
		t.Fatalf("%d subscriptions, want 1", got)
	}
}

// A waiter that gives up leaves the line; the next release wakes the one
// behind it.
func TestWaiterThatGivesUpLeavesTheLine(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	m := lockmanager.New(store.Backend("ns"))
	defer m.Close()
	ctx := context.Background()
	h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	first, cancel := context.WithCancel(ctx)
	defer cancel()
	a := waitAsync(first, m, "a")
	eventually(t, "a queued", func() bool { q, live := lockmanager.Queued(m, "k"); return q == 1 && live })
	b := waitAsync(ctx, m, "b")
	eventually(t, "b queued", func() bool { q, _ := lockmanager.Queued(m, "k"); return q == 2 })
	cancel()
	if err := <-a; !errors.Is(err, context.Canceled) {
		t.Fatalf("a: %v, want context.Canceled", err)
	}
	if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-b; err != nil {
		t.Fatalf("b: %v", err)
	}
}

// An idle subscription ends after the linger period, and the Manager
// forgets the key.
func TestIdleSubscriptionEndsAfterLinger(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	m := lockmanager.New(store.Backend("ns"))
	defer m.Close()
	lockmanager.SetLinger(m, 20*time.Millisecond)
	ctx := context.Background()
	h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(ctx, m, "a")
	eventually(t, "a queued", func() bool { q, live := lockmanager.Queued(m, "k"); return q == 1 && live })
	if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, "idle subscription dropped", func() bool { return lockmanager.Keys(m) == 0 })
}

// Close ends a lingering subscription and its goroutine (TestMain checks
// for leaks).
func TestCloseEndsLingeringSubscription(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	m := lockmanager.New(store.Backend("ns"))
	ctx := context.Background()
	h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(ctx, m, "a")
	eventually(t, "a queued", func() bool { q, live := lockmanager.Queued(m, "k"); return q == 1 && live })
	if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := lockmanager.Keys(m); n != 0 {
		t.Fatalf("after Close the Manager keeps state for %d keys", n)
	}
}

// polling hides a backend's notifications, so that its waiters poll.
type polling struct{ backends.Backend }

// Close wakes every waiting Acquire of the Manager at once with ErrClosed,
// whether its waiters are woken by notifications or poll: with a poll
// period and a lease far longer than the test's context, a waiter Close
// did not wake would end with the context's error instead.
func TestCloseWakesEveryWaiter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		wrap   func(backends.Backend) backends.Backend
		queued func(q int, live bool) bool
	}{
		{"Notified", func(b backends.Backend) backends.Backend { return b }, func(q int, live bool) bool { return q == 3 && live }},
		{"Polling", func(b backends.Backend) backends.Backend { return polling{b} }, func(q int, live bool) bool { return q == 3 && !live }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.NewStore()
			holder := lockmanager.New(store.Backend("ns"))
			defer holder.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*liveness)
			defer cancel()
			if _, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour}); err != nil {
				t.Fatal(err)
			}
			m := lockmanager.New(tc.wrap(store.Backend("ns")))
			done := make([]<-chan error, 0, 3)
			for _, h := range []string{"a", "b", "c"} {
				done = append(done, waitAsync(ctx, m, h))
			}
			eventually(t, "three waiters queued", func() bool { return tc.queued(lockmanager.Queued(m, "k")) })
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			for i, d := range done {
				if err := <-d; !errors.Is(err, lockmanager.ErrClosed) || !strings.Contains(err.Error(), `"k"`) {
					t.Errorf("waiter %d: got %v, want ErrClosed naming the key", i, err)
				}
			}
			if n := lockmanager.Keys(m); n != 0 {
				t.Fatalf("after Close the Manager keeps state for %d keys", n)
			}
		})
	}
}

// gated relays the subscriptions of a counting backend, and while hold is
// set it keeps each notification back until the test lets it pass.
type gated struct {
	*counting
	hold atomic.Bool
	pass chan struct{}
}

func (g *gated) Subscribe(ctx context.Context, key string) (<-chan struct{}, error) {
	in, err := g.counting.Subscribe(ctx, key)
	if err != nil {
		return nil, err
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		for range in {
			if g.hold.Load() {
				select {
				case <-g.pass:
				case <-ctx.Done():
					return
				}
			}
			select {
			case out <- struct{}{}:
			default:
			}
		}
	}()
	return out, nil
}

// A Manager that releases a contended key and asks for it again at once
// does not try before the release's notification is back, which is when
// the other Managers' waiters hear of it: it does not barge ahead of them.
func TestReleaserWaitsForItsReleaseToBeHeard(t *testing.T) {
	store := memory.NewStore()
	other := lockmanager.New(store.Backend("ns"))
	defer other.Close()
	g := &gated{counting: &counting{Backend: store.Backend("ns")}, pass: make(chan struct{})}
	m := lockmanager.New(g)
	defer m.Close()
	ctx := context.Background()
	// m waits once for the key, so that it has a live subscription.
	h, err := other.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "other", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(ctx, m, "a")
	eventually(t, "a queued", func() bool { q, live := lockmanager.Queued(m, "k"); return q == 1 && live })
	if err := other.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "other", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := m.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}

	g.hold.Store(true)
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	tries := g.tries.Load()
	done = waitAsync(ctx, m, "a")
	eventually(t, "a queued again", func() bool { q, _ := lockmanager.Queued(m, "k"); return q == 1 })
	// Another Manager's waiter, notified first, takes the key.
	if h, err = other.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "other", LeaseDuration: time.Hour}); err != nil {
		t.Fatalf("the other Manager's Acquire after the release: %v; the releaser barged ahead", err)
	}
	g.pass <- struct{}{} // the notification of a's release reaches m
	eventually(t, "a tried after its release was heard", func() bool { return g.tries.Load() == tries+1 })
	g.hold.Store(false)
	if err := other.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "other", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := g.tries.Load(); got != tries+2 {
		t.Fatalf("%d tries after the release, want 2 (one per notification)", got-tries)
	}
}

// When the release's notification never comes back, the releaser's next
// waiting Acquire polls once, and the Acquires after it try first again.
func TestLostReleaseNotificationCostsOnePoll(t *testing.T) {
	store := memory.NewStore()
	other := lockmanager.New(store.Backend("ns"))
	defer other.Close()
	g := &gated{counting: &counting{Backend: store.Backend("ns")}, pass: make(chan struct{})}
	m := lockmanager.New(g)
	defer m.Close()
	ctx := context.Background()
	h, err := other.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "other", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := waitAsync(ctx, m, "a")
	eventually(t, "a queued", func() bool { q, live := lockmanager.Queued(m, "k"); return q == 1 && live })
	if err := other.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "other", Version: h.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := m.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	g.hold.Store(true) // from now on no notification reaches m
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	short := waitOpts("a")
	short.RefreshPeriod = 10 * time.Millisecond
	if l, err = m.Acquire(ctx, short); err != nil {
		t.Fatal(err)
	}
	if err := m.Backend().Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	// With an hour's poll period, only trying first grants this in time.
	tries := g.tries.Load()
	if _, err := m.Acquire(ctx, waitOpts("a")); err != nil {
		t.Fatal(err)
	}
	if got := g.tries.Load() - tries; got != 1 {
		t.Fatalf("%d tries for a free key, want 1", got)
	}
}

// WaitForever waits until the lock is granted (here, when the holder
// releases) or the context ends, and PollPeriod bounds the sleep of a
// waiter that hears nothing.
func TestWaitForeverAndPollPeriod(t *testing.T) {
	ctx := context.Background()
	m := lockmanager.New(memory.New())
	defer func() { _ = m.Close() }()
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: time.Hour,
			Wait: lockmanager.WaitForever, PollPeriod: 10 * time.Millisecond})
		got <- err
	}()
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("Acquire with WaitForever after the release: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() {
		_, err := m.Acquire(cctx, lockmanager.AcquireOptions{Key: "k", Holder: "c", LeaseDuration: time.Hour, Wait: lockmanager.WaitForever})
		got <- err
	}()
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire with WaitForever of a held key, context cancelled: %v, want context.Canceled", err)
	}
	for _, bad := range []time.Duration{time.Millisecond, 25 * time.Hour} {
		_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "d", LeaseDuration: time.Hour, Wait: time.Second, PollPeriod: bad})
		if !errors.Is(err, lockmanager.ErrInvalidArgument) || !strings.Contains(err.Error(), "PollPeriod") {
			t.Errorf("PollPeriod %s: %v, want ErrInvalidArgument naming PollPeriod", bad, err)
		}
	}
}

// A waiter whose context is cancelled with a cause returns both the
// context's error and the cause, with the key.
func TestWaitEndedKeepsContextErrorAndCause(t *testing.T) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	if _, err := m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	done := waitAsync(ctx, m, "a")
	eventually(t, "a queued", func() bool { q, _ := lockmanager.Queued(m, "k"); return q == 1 })
	cause := errors.New("shutting down")
	cancel(cause)
	err := <-done
	if !errors.Is(err, context.Canceled) || !errors.Is(err, cause) || !strings.Contains(err.Error(), `"k"`) {
		t.Fatalf("got %v, want context.Canceled and the cause, naming the key", err)
	}
}
