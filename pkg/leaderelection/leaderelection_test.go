package leaderelection_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/leaderelection"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Short leases keep the tests quick; the Kubernetes backend needs a full
// lease of its own observation before a takeover after expiry.
const (
	leaseDuration = 2 * time.Second
	retryPeriod   = 200 * time.Millisecond
	electionKey   = "scheduler:background:lease"
)

// term is one OnStartedLeading call, timed on this process's monotonic
// clock (time.Now readings compared with Before use it).
type term struct {
	id         string
	start, end time.Time
	first      lockmanager.Lock // the lease when the term started
	last       lockmanager.Lock // the lease when the term's context ended
	cause      error            // context.Cause of the term's context
}

// terms collects the terms of every candidate of one test.
type terms struct {
	mu  sync.Mutex
	all []term
}

func (ts *terms) add(tm term) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.all = append(ts.all, tm)
}

func (ts *terms) list() []term {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return slices.Clone(ts.all)
}

// candidate is one Run in progress.
type candidate struct {
	id      string
	cancel  context.CancelFunc
	leaders chan string      // OnNewLeader's identities
	leading chan struct{}    // closed when OnStartedLeading starts
	stopped chan struct{}    // closed by OnStoppedLeading
	done    chan struct{}    // closed when Run has returned
	err     error            // Run's result, once done is closed
	started lockmanager.Lock // the lease when leading started
	ended   chan term        // the term, once its context ended
}

// startCandidate runs one Run for id on m in the background.
func startCandidate(t *testing.T, m *lockmanager.Manager, id string, rec *terms) *candidate {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &candidate{
		id: id, cancel: cancel,
		leaders: make(chan string, 100),
		leading: make(chan struct{}),
		stopped: make(chan struct{}),
		done:    make(chan struct{}),
		ended:   make(chan term, 1),
	}
	cfg := leaderelection.Config{
		Manager: m, Key: electionKey, Identity: id,
		LeaseDuration: leaseDuration, RetryPeriod: retryPeriod,
		Callbacks: leaderelection.Callbacks{
			OnNewLeader: func(identity string) { c.leaders <- identity },
			OnStartedLeading: func(ctx context.Context) {
				tm := term{id: id, start: time.Now()}
				tm.first, _ = leaderelection.Lease(ctx)
				c.started = tm.first
				close(c.leading)
				<-ctx.Done()
				tm.end = time.Now()
				tm.last, _ = leaderelection.Lease(ctx)
				tm.cause = context.Cause(ctx)
				rec.add(tm)
				c.ended <- tm
			},
			OnStoppedLeading: func() { close(c.stopped) },
		},
	}
	go func() {
		defer close(c.done)
		c.err = leaderelection.Run(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done // no Run outlives its test
	})
	return c
}

// newManager returns a Manager over b, closed when t ends.
func newManager(t *testing.T, b backends.Backend) *lockmanager.Manager {
	t.Helper()
	m := lockmanager.New(b)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// waitFor returns the next value from ch, failing t if ctx (the test's
// overall deadline) ends first.
func waitFor[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("gave up waiting for %s", what)
		panic("unreachable")
	}
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("gave up waiting for %s", what)
	}
}

// runErr waits for c's Run to return and returns its error.
func runErr(t *testing.T, c *candidate) error {
	t.Helper()
	waitClosed(t, c.id+"'s Run to return", c.done)
	return c.err
}

// expectLeader reads OnNewLeader reports until want arrives.
func expectLeader(t *testing.T, c *candidate, want string) {
	t.Helper()
	for {
		if got := waitFor(t, fmt.Sprintf("%s to report leader %s", c.id, want), c.leaders); got == want {
			return
		}
	}
}

// checkNoOverlap fails t unless the terms, ordered by start, each end
// before the next starts, with strictly increasing fencing tokens.
func checkNoOverlap(t *testing.T, all []term) {
	t.Helper()
	slices.SortFunc(all, func(a, b term) int { return a.start.Compare(b.start) })
	for i := 1; i < len(all); i++ {
		prev, next := all[i-1], all[i]
		if !prev.end.Before(next.start) {
			t.Errorf("term %d of %s ended at %s, after term %d of %s started at %s: two leaders at once",
				i-1, prev.id, prev.end.Format(time.StampMicro), i, next.id, next.start.Format(time.StampMicro))
		}
		if next.first.FencingToken <= prev.first.FencingToken {
			t.Errorf("term %d's fencing token %d is not greater than term %d's %d", i, next.first.FencingToken, i-1, prev.first.FencingToken)
		}
	}
}

// Two candidates campaign again and again, each stepping down soon after
// it leads: at every moment at most one leads, and each term's fencing
// token is greater than the last.
func TestOneLeaderAtATime(t *testing.T) {
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			open := bc.newStore(t)
			const wantTerms = 6
			var (
				rec  terms
				mu   sync.Mutex
				done int
			)
			all, finish := context.WithCancel(context.Background())
			defer finish()
			var wg sync.WaitGroup
			for _, id := range []string{"candidate-a", "candidate-b"} {
				m := newManager(t, open(t))
				wg.Go(func() {
					for all.Err() == nil {
						ctx, stepDown := context.WithCancel(all)
						err := leaderelection.Run(ctx, leaderelection.Config{
							Manager: m, Key: electionKey, Identity: id,
							LeaseDuration: leaseDuration, RetryPeriod: retryPeriod,
							Callbacks: leaderelection.Callbacks{OnStartedLeading: func(ctx context.Context) {
								tm := term{id: id, start: time.Now()}
								tm.first, _ = leaderelection.Lease(ctx)
								// Lead for a moment (pacing, not an assertion),
								// then step down.
								select {
								case <-ctx.Done():
								case <-time.After(50 * time.Millisecond):
								}
								tm.end = time.Now()
								rec.add(tm)
								stepDown()
								mu.Lock()
								if done++; done >= wantTerms {
									finish()
								}
								mu.Unlock()
							}},
						})
						stepDown()
						if err != nil && !errors.Is(err, context.Canceled) {
							t.Errorf("Run(%s): %v", id, err)
							finish()
						}
					}
				})
			}
			wg.Wait()
			got := rec.list()
			if len(got) < wantTerms {
				t.Fatalf("%d terms, want at least %d", len(got), wantTerms)
			}
			checkNoOverlap(t, got)
		})
	}
}

// When the leader's context is cancelled it stops its work, releases the
// lease and returns; the waiting candidate, which saw the old leader, takes
// over at once and reports itself as the new leader.
func TestCancelledLeaderHandsOver(t *testing.T) {
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			open := bc.newStore(t)
			var rec terms
			a := startCandidate(t, newManager(t, open(t)), "candidate-a", &rec)
			expectLeader(t, a, "candidate-a")
			waitClosed(t, "a to lead", a.leading)
			b := startCandidate(t, newManager(t, open(t)), "candidate-b", &rec)
			expectLeader(t, b, "candidate-a")

			a.cancel()
			aTerm := waitFor(t, "a's term to end", a.ended)
			if !errors.Is(aTerm.cause, context.Canceled) {
				t.Errorf("a's leading context ended with %v, want context.Canceled", aTerm.cause)
			}
			waitClosed(t, "a's OnStoppedLeading", a.stopped)
			if err := runErr(t, a); !errors.Is(err, context.Canceled) {
				t.Errorf("a's Run = %v, want context.Canceled", err)
			}

			expectLeader(t, b, "candidate-b")
			waitClosed(t, "b to lead", b.leading)
			if b.started.FencingToken <= aTerm.first.FencingToken {
				t.Errorf("b's fencing token %d, want greater than a's %d", b.started.FencingToken, aTerm.first.FencingToken)
			}
			b.cancel()
			if err := runErr(t, b); !errors.Is(err, context.Canceled) {
				t.Errorf("b's Run = %v, want context.Canceled", err)
			}
			checkNoOverlap(t, rec.list())
		})
	}
}

// When the leader's backend stops answering, its leading context is
// cancelled (lease expired by its own count) before its lease ends in the
// store, and the other candidate takes over only after that.
func TestPartitionedLeaderStepsDownBeforeTakeover(t *testing.T) {
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			open := bc.newStore(t)
			var rec terms
			faulty := backendtest.NewFaulty(open(t))
			a := startCandidate(t, newManager(t, faulty), "candidate-a", &rec)
			waitClosed(t, "a to lead", a.leading)
			b := startCandidate(t, newManager(t, open(t)), "candidate-b", &rec)
			expectLeader(t, b, "candidate-a")

			faulty.Set(backendtest.Hang)
			aTerm := waitFor(t, "a's term to end", a.ended)
			if !errors.Is(aTerm.cause, lockmanager.ErrLeaseExpired) {
				t.Errorf("a's leading context ended with %v, want ErrLeaseExpired", aTerm.cause)
			}
			err := runErr(t, a)
			if !errors.Is(err, leaderelection.ErrLeadershipLost) || !errors.Is(err, lockmanager.ErrLeaseExpired) {
				t.Errorf("a's Run = %v, want ErrLeadershipLost wrapping ErrLeaseExpired", err)
			}
			waitClosed(t, "a's OnStoppedLeading", a.stopped)
			if bc.localClock && !aTerm.end.Before(aTerm.last.ExpiresAt) {
				t.Errorf("a stopped leading at %s, not before its lease expired at %s", aTerm.end, aTerm.last.ExpiresAt)
			}

			expectLeader(t, b, "candidate-b")
			waitClosed(t, "b to lead", b.leading)
			bTerm := b.started
			if bc.storeClock && bTerm.AcquiredAt.Before(aTerm.last.ExpiresAt) {
				t.Errorf("b acquired at %s, before a's lease expired at %s", bTerm.AcquiredAt, aTerm.last.ExpiresAt)
			}
			if bTerm.FencingToken <= aTerm.first.FencingToken {
				t.Errorf("b's fencing token %d, want greater than a's %d", bTerm.FencingToken, aTerm.first.FencingToken)
			}
			b.cancel()
			<-b.done
			checkNoOverlap(t, rec.list())
		})
	}
}

// A Config the lock contract refuses fails before any callback, naming the
// field.
func TestRunRejectsInvalidConfig(t *testing.T) {
	m := newManager(t, memory.New())
	start := func(context.Context) { t.Error("OnStartedLeading called for an invalid config") }
	valid := leaderelection.Config{Manager: m, Key: "k", Identity: "me", Callbacks: leaderelection.Callbacks{OnStartedLeading: start}}
	tests := []struct {
		name   string
		modify func(*leaderelection.Config)
		field  string
	}{
		{"NoManager", func(c *leaderelection.Config) { c.Manager = nil }, "Manager"},
		{"NoOnStartedLeading", func(c *leaderelection.Config) { c.Callbacks.OnStartedLeading = nil }, "OnStartedLeading"},
		{"EmptyKey", func(c *leaderelection.Config) { c.Key = "" }, "Key"},
		{"EmptyIdentity", func(c *leaderelection.Config) { c.Identity = "" }, "Holder"},
		{"ShortLease", func(c *leaderelection.Config) { c.LeaseDuration = 500 * time.Millisecond }, "LeaseDuration"},
		{"RetryNotUnderLease", func(c *leaderelection.Config) { c.LeaseDuration, c.RetryPeriod = 2*time.Second, 2*time.Second }, "RefreshPeriod"},
		{"MarginTooLarge", func(c *leaderelection.Config) {
			c.LeaseDuration, c.RetryPeriod, c.SafetyMargin = 2*time.Second, time.Second, time.Second
		}, "SafetyMargin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.modify(&cfg)
			err := leaderelection.Run(context.Background(), cfg)
			if !errors.Is(err, lockmanager.ErrInvalidArgument) || !strings.Contains(fmt.Sprint(err), tt.field) {
				t.Fatalf("Run = %v, want ErrInvalidArgument naming %s", err, tt.field)
			}
		})
	}
}

// A candidate whose context ends while it waits returns the context's error
// without calling OnStartedLeading or OnStoppedLeading, and leaves the lock
// to its holder.
func TestCancelWhileWaiting(t *testing.T) {
	store := memory.NewStore()
	m := newManager(t, store.Backend("w"))
	holder, err := m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: electionKey, Holder: "someone-else", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	leaders := make(chan string, 10)
	result := make(chan error, 1)
	go func() {
		result <- leaderelection.Run(ctx, leaderelection.Config{
			Manager: m, Key: electionKey, Identity: "waiter",
			LeaseDuration: leaseDuration, RetryPeriod: retryPeriod,
			Callbacks: leaderelection.Callbacks{
				OnStartedLeading: func(context.Context) { t.Error("OnStartedLeading called while another holds the lock") },
				OnStoppedLeading: func() { t.Error("OnStoppedLeading called without leading") },
				OnNewLeader:      func(id string) { leaders <- id },
			},
		})
	}()
	if got := waitFor(t, "the holder to be reported", leaders); got != "someone-else" {
		t.Errorf("OnNewLeader(%q), want someone-else", got)
	}
	cancel()
	if err := waitFor(t, "Run to return", result); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	l, err := m.Get(context.Background(), electionKey)
	if err != nil || !l.Held || l.Holder != "someone-else" || l.Version != holder.Version {
		t.Errorf("after the waiter gave up: %+v, %v; want someone-else's lease untouched", l, err)
	}
}

// The leader's lease is available from its context only.
func TestLeaseOutsideATerm(t *testing.T) {
	if _, ok := leaderelection.Lease(context.Background()); ok {
		t.Error("Lease(context.Background()) reported a lease")
	}
}

// When Run's context ends, the lease stays the leader's, and is renewed,
// until OnStartedLeading has returned; only then is it released.
func TestLeaseKeptUntilWorkStops(t *testing.T) {
	store := memory.NewStore()
	m := newManager(t, store.Backend("work"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan struct{})
	stopping := make(chan struct{})
	finishWork := make(chan struct{})
	stopped := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- leaderelection.Run(ctx, leaderelection.Config{
			Manager: m, Key: electionKey, Identity: "worker",
			LeaseDuration: leaseDuration, RetryPeriod: retryPeriod,
			Callbacks: leaderelection.Callbacks{
				OnStartedLeading: func(ctx context.Context) {
					close(started)
					<-ctx.Done()
					close(stopping)
					<-finishWork // work still winding down
				},
				OnStoppedLeading: func() { close(stopped) },
			},
		})
	}()
	held := waitHeld(t, m, "worker", "")
	// Cancelled only once the work runs: a cancellation between the grant
	// and the callback would end Run without any work to wait for.
	waitClosed(t, "OnStartedLeading", started)
	cancel()
	waitClosed(t, "the leader's context to end", stopping)
	// A renewal after the cancellation shows the heartbeat still runs.
	renewed := waitHeld(t, m, "worker", held.Version)
	if renewed.FencingToken != held.FencingToken {
		t.Errorf("fencing token changed from %d to %d while the work wound down", held.FencingToken, renewed.FencingToken)
	}
	select {
	case <-stopped:
		t.Fatal("OnStoppedLeading ran before OnStartedLeading returned")
	default:
	}
	close(finishWork)
	if err := waitFor(t, "Run to return", done); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	waitClosed(t, "OnStoppedLeading", stopped)
	if l, err := m.Get(context.Background(), electionKey); err != nil || l.Held {
		t.Errorf("after Run returned: %+v, %v; want released", l, err)
	}
}

// A callback that returns at once does not give up leadership (as in
// client-go): the lease is renewed until Run's context ends.
func TestEarlyReturnKeepsLeading(t *testing.T) {
	m := newManager(t, memory.New())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- leaderelection.Run(ctx, leaderelection.Config{
			Manager: m, Key: electionKey, Identity: "starter",
			LeaseDuration: leaseDuration, RetryPeriod: retryPeriod,
			Callbacks: leaderelection.Callbacks{OnStartedLeading: func(context.Context) { close(returned) }},
		})
	}()
	waitClosed(t, "OnStartedLeading to return", returned)
	held := waitHeld(t, m, "starter", "")
	waitHeld(t, m, "starter", held.Version) // renewed after the callback returned
	cancel()
	if err := waitFor(t, "Run to return", done); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v, want context.Canceled", err)
	}
	if l, err := m.Get(context.Background(), electionKey); err != nil || l.Held {
		t.Errorf("after Run returned: %+v, %v; want released", l, err)
	}
}

// waitHeld polls until the lock is held by holder with a version other
// than notVersion, and returns it.
func waitHeld(t *testing.T, m *lockmanager.Manager, holder, notVersion string) lockmanager.Lock {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		l, err := m.Get(context.Background(), electionKey)
		if err == nil && l.Held && l.Holder == holder && l.Version != notVersion {
			return l
		}
		if err != nil && !errors.Is(err, lockmanager.ErrNotFound) {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s to hold the lock (last: %+v, %v)", holder, l, err)
		}
		time.Sleep(retryPeriod / 4)
	}
}
