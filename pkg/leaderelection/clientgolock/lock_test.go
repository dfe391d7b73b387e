package clientgolock_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/leaderelection/clientgolock"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

const electionKey = "controller-manager:leader"

// newLock returns a Lock for identity over a client of the store, with a
// Manager closed when t ends.
func newLock(t *testing.T, open store, identity string) (*clientgolock.Lock, *lockmanager.Manager) {
	t.Helper()
	m := lockmanager.New(open(t))
	t.Cleanup(func() { _ = m.Close() })
	l, err := clientgolock.New(m, electionKey, identity)
	if err != nil {
		t.Fatal(err)
	}
	return l, m
}

// countingLock counts the calls client-go makes, so that a test can wait
// for a candidate to have tried, and failed, several times.
type countingLock struct {
	resourcelock.Interface
	gets, updates atomic.Int64
}

func (c *countingLock) Get(ctx context.Context) (*resourcelock.LeaderElectionRecord, []byte, error) {
	c.gets.Add(1)
	return c.Interface.Get(ctx)
}

func (c *countingLock) Update(ctx context.Context, ler resourcelock.LeaderElectionRecord) error {
	c.updates.Add(1)
	return c.Interface.Update(ctx, ler)
}

// waitCount waits until n() reaches want.
func waitCount(t *testing.T, what string, n func() int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for n() < want {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// elector is one client-go candidate running RunOrDie.
type elector struct {
	id      string
	cancel  context.CancelFunc
	leading chan struct{} // closed when OnStartedLeading runs
	stopped chan struct{} // closed by OnStoppedLeading
	done    chan struct{} // closed when RunOrDie has returned

	mu        sync.Mutex
	start     time.Time // when OnStartedLeading ran (monotonic clock)
	cancelled time.Time // just before cancel was called
}

func startElector(t *testing.T, lock resourcelock.Interface) *elector {
	t.Helper()
	// client-go logs through the context's logger; keep test output quiet.
	ctx, cancel := context.WithCancel(klog.NewContext(context.Background(), logr.Discard()))
	e := &elector{
		id: lock.Identity(), cancel: cancel,
		leading: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{}),
	}
	cfg := leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   2 * time.Second,
		RenewDeadline:   1500 * time.Millisecond,
		RetryPeriod:     200 * time.Millisecond,
		ReleaseOnCancel: true,
		Name:            "leasehold-test",
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) {
				e.mu.Lock()
				e.start = time.Now()
				e.mu.Unlock()
				close(e.leading)
			},
			OnStoppedLeading: func() { close(e.stopped) },
		},
	}
	go func() {
		defer close(e.done)
		leaderelection.RunOrDie(ctx, cfg)
	}()
	t.Cleanup(func() {
		cancel()
		<-e.done
	})
	return e
}

// stepDown records the time and cancels e's context.
func (e *elector) stepDown() {
	e.mu.Lock()
	e.cancelled = time.Now()
	e.mu.Unlock()
	e.cancel()
}

func (e *elector) started() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.start
}

func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("gave up waiting for %s", what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// client-go's own elector, two candidates over one lock: exactly one leads;
// once its context is cancelled (ReleaseOnCancel) it releases the lock and
// the other takes over, with a greater fencing token and one more leader
// transition in the record.
func TestClientGoElectsOneLeaderAndHandsOver(t *testing.T) {
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) {
			t.Parallel()
			open := bc.newStore(t)
			lockA, m := newLock(t, open, "candidate-a")
			lockB, _ := newLock(t, open, "candidate-b")
			countA, countB := &countingLock{Interface: lockA}, &countingLock{Interface: lockB}
			a, b := startElector(t, countA), startElector(t, countB)

			var first, second *elector
			var firstCalls, secondCalls *countingLock
			select {
			case <-a.leading:
				first, second, firstCalls, secondCalls = a, b, countA, countB
			case <-b.leading:
				first, second, firstCalls, secondCalls = b, a, countB, countA
			case <-time.After(time.Minute):
				t.Fatal("no candidate became leader")
			}
			// Let the leader renew, and the other try and fail, several
			// times.
			updates, gets := firstCalls.updates.Load(), secondCalls.gets.Load()
			waitCount(t, first.id+"'s renewals", firstCalls.updates.Load, updates+3)
			waitCount(t, second.id+"'s attempts", secondCalls.gets.Load, gets+3)
			rec, err := m.Get(context.Background(), electionKey)
			if err != nil || !rec.Held || rec.Holder != first.id {
				t.Fatalf("record while %s leads = %+v, %v", first.id, rec, err)
			}
			if isClosed(second.leading) {
				t.Fatalf("%s and %s both lead", first.id, second.id)
			}

			first.stepDown()
			waitClosed(t, first.id+" to stop leading", first.stopped)
			waitClosed(t, first.id+"'s RunOrDie to return", first.done)
			waitClosed(t, second.id+" to take over", second.leading)
			if !first.cancelled.Before(second.started()) {
				t.Errorf("%s started leading at %s, before %s stepped down at %s", second.id, second.started(), first.id, first.cancelled)
			}
			next, err := m.Get(context.Background(), electionKey)
			if err != nil || !next.Held || next.Holder != second.id {
				t.Fatalf("record after the takeover = %+v, %v; want held by %s", next, err, second.id)
			}
			if next.FencingToken <= rec.FencingToken {
				t.Errorf("fencing token %d after the takeover, want greater than %d", next.FencingToken, rec.FencingToken)
			}
			if got := next.Metadata[clientgolock.MetadataLeaderTransitions]; got != "1" {
				t.Errorf("leader transitions = %q, want 1", got)
			}
		})
	}
}

// Update after Get is a compare-and-swap: of two candidates that read the
// same free record, only the first to write wins; the other gets a
// Conflict, as from the Kubernetes API, and no lease.
func TestUpdateFailsWhenTheRecordChangedSinceGet(t *testing.T) {
	ctx := context.Background()
	for _, bc := range backendCases() {
		t.Run(bc.name, func(t *testing.T) {
			open := bc.newStore(t)
			a, m := newLock(t, open, "a")
			b, _ := newLock(t, open, "b")
			record := func(id string) resourcelock.LeaderElectionRecord {
				now := time.Now()
				return resourcelock.LeaderElectionRecord{HolderIdentity: id, LeaseDurationSeconds: 2, AcquireTime: metav1.NewTime(now), RenewTime: metav1.NewTime(now)}
			}

			if _, _, err := a.Get(ctx); !apierrors.IsNotFound(err) || !errors.Is(err, lockmanager.ErrNotFound) {
				t.Fatalf("Get on no record = %v, want NotFound", err)
			}
			if err := a.Create(ctx, record("a")); err != nil {
				t.Fatal(err)
			}
			if err := a.Update(ctx, resourcelock.LeaderElectionRecord{LeaseDurationSeconds: 1}); err != nil {
				t.Fatalf("release: %v", err)
			}
			// Both read the released record...
			for _, l := range []*clientgolock.Lock{a, b} {
				got, raw, err := l.Get(ctx)
				if err != nil || got.HolderIdentity != "" || len(raw) == 0 {
					t.Fatalf("Get after release = %+v, %q, %v; want no holder", got, raw, err)
				}
			}
			// ...and both try to take it.
			if err := b.Update(ctx, record("b")); err != nil {
				t.Fatalf("first Update: %v", err)
			}
			err := a.Update(ctx, record("a"))
			if !apierrors.IsConflict(err) {
				t.Fatalf("second Update = %v, want Conflict", err)
			}
			rec, err := m.Get(ctx, electionKey)
			if err != nil || rec.Holder != "b" || !rec.Held {
				t.Fatalf("record = %+v, %v; want held by b", rec, err)
			}
			// Reading again does not let a in while b holds the lease.
			got, _, err := a.Get(ctx)
			if err != nil || got.HolderIdentity != "b" {
				t.Fatalf("a's Get = %+v, %v; want holder b", got, err)
			}
			if err := a.Update(ctx, record("a")); !errors.Is(err, lockmanager.ErrLockHeld) {
				t.Fatalf("Update while b holds = %v, want ErrLockHeld", err)
			}
			// b renews on client-go's fast path (no Get first).
			if err := b.Update(ctx, record("b")); err != nil {
				t.Fatalf("renewal: %v", err)
			}
			renewed, err := m.Get(ctx, electionKey)
			if err != nil || renewed.FencingToken != rec.FencingToken || renewed.Version == rec.Version {
				t.Fatalf("after renewal = %+v, %v; want the same token and a new version", renewed, err)
			}
		})
	}
}

// A record naming another identity is refused: a lock writes only for
// its own candidate.
func TestUpdateRefusesAnotherIdentity(t *testing.T) {
	s := memory.NewStore()
	l, _ := newLock(t, func(*testing.T) backends.Backend { return s.Backend("x") }, "a")
	if err := l.Create(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "b", LeaseDurationSeconds: 2}); !errors.Is(err, lockmanager.ErrInvalidArgument) {
		t.Fatalf("Create for another identity = %v, want ErrInvalidArgument", err)
	}
	if err := l.Update(context.Background(), resourcelock.LeaderElectionRecord{HolderIdentity: "b", LeaseDurationSeconds: 2}); !errors.Is(err, lockmanager.ErrInvalidArgument) {
		t.Fatalf("Update for another identity = %v, want ErrInvalidArgument", err)
	}
}

// New refuses what client-go or the lock contract would refuse later.
func TestNewValidates(t *testing.T) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	tests := []struct {
		name          string
		m             *lockmanager.Manager
		key, identity string
	}{
		{"NoManager", nil, "k", "a"},
		{"EmptyKey", m, "", "a"},
		{"ControlCharacterInKey", m, "k\n", "a"},
		{"EmptyIdentity", m, "k", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := clientgolock.New(tt.m, tt.key, tt.identity); !errors.Is(err, lockmanager.ErrInvalidArgument) {
				t.Fatalf("New = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
