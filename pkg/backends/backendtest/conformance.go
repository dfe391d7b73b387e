package backendtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Harness plugs a backend into the suite.
type Harness struct {
	// Open returns a new client of the store under test, scoped to
	// namespace. Clients opened with the same namespace share locks; the
	// suite gives every subtest fresh namespaces (ASCII lowercase letters,
	// digits and '-', at most 20 bytes) and closes every client it opens.
	Open func(t *testing.T, namespace string) backends.Backend
	// TimeTolerance is how far a backend's reported times may be off the
	// requested lease arithmetic through its storage precision (for
	// example a store that keeps milliseconds). Zero means 1 ms.
	TimeTolerance time.Duration
}

// lease is the lease the suite grants when it does not wait for expiry.
const lease = 30 * time.Second

// shortLease is the contract's minimum, for subtests that wait for expiry.
const shortLease = time.Second

// liveness bounds how long the suite waits for something that must
// happen (a waiter being granted, an expiry being observed). It is a
// guard against hanging, not a performance goal.
const liveness = 20 * time.Second

type suite struct {
	h Harness
}

// RunConformanceTests runs the whole contract against the backend h opens.
func RunConformanceTests(t *testing.T, h Harness) {
	t.Helper()
	if h.TimeTolerance == 0 {
		h.TimeTolerance = time.Millisecond
	}
	s := &suite{h: h}
	t.Run("Acquire", s.testAcquire)
	t.Run("Wait", s.testWait)
	t.Run("Renew", s.testRenew)
	t.Run("Release", s.testRelease)
	t.Run("FencingToken", s.testFencingToken)
	t.Run("Expiry", s.testExpiry)
	t.Run("Metadata", s.testMetadata)
	t.Run("Names", s.testNames)
	t.Run("List", s.testList)
	t.Run("Namespaces", s.testNamespaces)
	t.Run("Close", s.testClose)
	t.Run("InvalidArgument", s.testInvalidArgument)
	t.Run("Session", s.testSession)
	t.Run("Context", s.testContext)
	probe := h.Open(t, namespace(t))
	_, notifies := probe.(backends.Notifier)
	_ = probe.Close()
	if notifies {
		t.Run("Notify", s.testNotify)
	}
}

// namespace returns a fresh namespace for one subtest.
func namespace(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "ct-" + hex.EncodeToString(b[:])
}

// manager opens a client on ns and wraps it in a Manager closed at the end
// of the test.
func (s *suite) manager(t *testing.T, ns string) *lockmanager.Manager {
	t.Helper()
	m := lockmanager.New(s.h.Open(t, ns))
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// fresh returns a manager on a namespace of its own.
func (s *suite) fresh(t *testing.T) *lockmanager.Manager {
	t.Helper()
	return s.manager(t, namespace(t))
}

func ctxFor(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*liveness)
	t.Cleanup(cancel)
	return ctx
}

func acquire(t *testing.T, m *lockmanager.Manager, key, holder string, d time.Duration, md map[string]string) lockmanager.Lock {
	t.Helper()
	l, err := m.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: key, Holder: holder, LeaseDuration: d, Metadata: md})
	if err != nil {
		t.Fatalf("Acquire(%q, %q): %v", key, holder, err)
	}
	return l
}

func get(t *testing.T, m *lockmanager.Manager, key string) lockmanager.Lock {
	t.Helper()
	l, err := m.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return l
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// waitExpired waits, on real time, until Get reports key not held.
func waitExpired(t *testing.T, m *lockmanager.Manager, key string) lockmanager.Lock {
	t.Helper()
	deadline := time.Now().Add(liveness)
	for {
		l := get(t, m, key)
		if !l.Held {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("lock %q still held %s after its expiry at %s", key, liveness, l.ExpiresAt)
		}
		time.Sleep(min(time.Until(l.ExpiresAt)+10*time.Millisecond, 250*time.Millisecond, liveness))
	}
}

// near reports whether two times agree within the backend's tolerance.
func (s *suite) near(a, b time.Time) bool {
	d := a.Sub(b)
	return d <= s.h.TimeTolerance && d >= -s.h.TimeTolerance
}

// checkGrant asserts the invariants of a fresh grant.
func (s *suite) checkGrant(t *testing.T, l lockmanager.Lock, key, holder string, d time.Duration) {
	t.Helper()
	if l.Key != key || l.Holder != holder || !l.Held {
		t.Fatalf("grant = {Key:%q Holder:%q Held:%v}, want {Key:%q Holder:%q Held:true}", l.Key, l.Holder, l.Held, key, holder)
	}
	if l.Version == "" || l.FencingToken == 0 {
		t.Fatalf("grant has Version %q and FencingToken %d; want both set", l.Version, l.FencingToken)
	}
	if l.LeaseDuration != d {
		t.Fatalf("LeaseDuration = %s, want %s", l.LeaseDuration, d)
	}
	if !s.near(l.ExpiresAt, l.RenewedAt.Add(d)) {
		t.Fatalf("ExpiresAt = %s, want RenewedAt + lease = %s", l.ExpiresAt, l.RenewedAt.Add(d))
	}
	if l.AcquiredAt.After(l.RenewedAt) {
		t.Fatalf("AcquiredAt %s is after RenewedAt %s", l.AcquiredAt, l.RenewedAt)
	}
}

var lockOpts = cmp.Options{
	cmpopts.EquateEmpty(),
	cmpopts.EquateApproxTime(time.Millisecond),
}

func (s *suite) testAcquire(t *testing.T) {
	t.Run("GrantOnFreeKey", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		md := map[string]string{"node": "node-1"}
		l := acquire(t, m, "scheduler:background:lease", "node-1", lease, md)
		s.checkGrant(t, l, "scheduler:background:lease", "node-1", lease)
		if !s.near(l.AcquiredAt, l.RenewedAt) {
			t.Fatalf("AcquiredAt %s != RenewedAt %s on a new grant", l.AcquiredAt, l.RenewedAt)
		}
		if diff := cmp.Diff(md, l.Metadata, lockOpts); diff != "" {
			t.Fatalf("Metadata (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(l, get(t, m, l.Key), lockOpts); diff != "" {
			t.Fatalf("Get after Acquire (-want +got):\n%s", diff)
		}
	})

	t.Run("SameHolderExtendsLeaseKeepsToken", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		first := acquire(t, m, "k", "a", lease, map[string]string{"x": "1"})
		again := acquire(t, m, "k", "a", 2*lease, nil)
		s.checkGrant(t, again, "k", "a", 2*lease)
		if again.FencingToken != first.FencingToken {
			t.Fatalf("re-acquire by the holder changed the token: %d -> %d", first.FencingToken, again.FencingToken)
		}
		if again.Version == first.Version {
			t.Fatalf("re-acquire kept version %q; want a new one", first.Version)
		}
		if !again.ExpiresAt.After(first.ExpiresAt) {
			t.Fatalf("re-acquire did not extend the lease: %s -> %s", first.ExpiresAt, again.ExpiresAt)
		}
		if !s.near(again.AcquiredAt, first.AcquiredAt) {
			t.Fatalf("re-acquire moved AcquiredAt: %s -> %s", first.AcquiredAt, again.AcquiredAt)
		}
		if diff := cmp.Diff(map[string]string{"x": "1"}, again.Metadata, lockOpts); diff != "" {
			t.Fatalf("nil metadata on re-acquire must keep it (-want +got):\n%s", diff)
		}
		third := acquire(t, m, "k", "a", lease, map[string]string{"y": "2"})
		if diff := cmp.Diff(map[string]string{"y": "2"}, third.Metadata, lockOpts); diff != "" {
			t.Fatalf("metadata on re-acquire must replace it (-want +got):\n%s", diff)
		}
	})

	t.Run("OtherHolderGetsLockHeld", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		_, err := m.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease})
		wantErr(t, "Acquire by another holder", err, lockmanager.ErrLockHeld)
		var held *lockmanager.HeldError
		if !errors.As(err, &held) {
			t.Fatalf("error %v is not a *HeldError", err)
		}
		if held.Key != "k" || held.Holder != "a" || !s.near(held.ExpiresAt, l.ExpiresAt) {
			t.Fatalf("HeldError = %+v, want key k, holder a, expiry %s", held, l.ExpiresAt)
		}
		if !strings.Contains(err.Error(), `"k"`) {
			t.Fatalf("error %q does not name the key", err)
		}
		if got := get(t, m, "k"); got.Holder != "a" || got.Version != l.Version {
			t.Fatalf("a refused acquire changed the record: %+v", got)
		}
	})

	t.Run("ExactlyOneOf32ConcurrentAcquirersWins", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		clients := make([]*lockmanager.Manager, 4)
		for i := range clients {
			clients[i] = s.manager(t, ns)
		}
		for round := range 5 {
			key := fmt.Sprintf("race-%d", round)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var winners []string
			var others []error
			start := make(chan struct{})
			for i := range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					holder := fmt.Sprintf("holder-%d", i)
					<-start
					_, err := clients[i%len(clients)].Acquire(context.Background(),
						lockmanager.AcquireOptions{Key: key, Holder: holder, LeaseDuration: lease})
					mu.Lock()
					defer mu.Unlock()
					if err == nil {
						winners = append(winners, holder)
					} else if !errors.Is(err, lockmanager.ErrLockHeld) {
						others = append(others, err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if len(others) > 0 {
				t.Fatalf("round %d: losers got errors other than ErrLockHeld: %v", round, others)
			}
			if len(winners) != 1 {
				t.Fatalf("round %d: %d winners %v, want exactly 1", round, len(winners), winners)
			}
			if got := get(t, clients[0], key); got.Holder != winners[0] {
				t.Fatalf("round %d: record holder %q, winner %q", round, got.Holder, winners[0])
			}
		}
	})
}

func (s *suite) testWait(t *testing.T) {
	t.Run("WaiterGetsLockWhenHolderReleases", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		holder, waiter := s.manager(t, ns), s.manager(t, ns)
		l := acquire(t, holder, "k", "a", lease, nil)
		type result struct {
			l   lockmanager.Lock
			err error
		}
		done := make(chan result, 1)
		started := make(chan struct{})
		go func() {
			close(started)
			got, err := waiter.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease,
				Wait: liveness, RefreshPeriod: time.Second})
			done <- result{got, err}
		}()
		<-started
		if err := holder.Release(ctxFor(t), lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
			t.Fatalf("Release: %v", err)
		}
		r := <-done
		if r.err != nil {
			t.Fatalf("waiter: %v", r.err)
		}
		if r.l.Holder != "b" || r.l.FencingToken <= l.FencingToken {
			t.Fatalf("waiter got holder %q token %d; want b with a token above %d", r.l.Holder, r.l.FencingToken, l.FencingToken)
		}
	})

	t.Run("WaiterGetsLockWhenLeaseExpires", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		holder, waiter := s.manager(t, ns), s.manager(t, ns)
		l := acquire(t, holder, "k", "a", shortLease, nil)
		got, err := waiter.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease,
			Wait: liveness, RefreshPeriod: 100 * time.Millisecond})
		if err != nil {
			t.Fatalf("waiter: %v", err)
		}
		if got.Holder != "b" || got.FencingToken <= l.FencingToken {
			t.Fatalf("waiter got holder %q token %d; want b with a token above %d", got.Holder, got.FencingToken, l.FencingToken)
		}
	})

	t.Run("WaitTimesOutWithLockHeld", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		acquire(t, m, "k", "a", lease, nil)
		const wait = 1500 * time.Millisecond
		start := time.Now()
		_, err := m.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease, Wait: wait,
			RefreshPeriod: 100 * time.Millisecond})
		wantErr(t, "Acquire with a wait on a held lock", err, lockmanager.ErrLockHeld)
		var held *lockmanager.HeldError
		if !errors.As(err, &held) || held.Holder != "a" {
			t.Fatalf("error %v: want a *HeldError naming holder a", err)
		}
		if elapsed := time.Since(start); elapsed < wait {
			t.Fatalf("gave up after %s, before the %s wait ran out", elapsed, wait)
		}
	})

	t.Run("ContextCancelledWhileWaiting", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		acquire(t, m, "k", "a", lease, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease, Wait: 10 * liveness})
			done <- err
		}()
		time.AfterFunc(200*time.Millisecond, cancel)
		err := <-done
		wantCtxErr(t, "Acquire whose context was cancelled", err, context.Canceled, "k")
	})
}

func (s *suite) testRenew(t *testing.T) {
	renew := func(m *lockmanager.Manager, key, holder, version string, d time.Duration) (lockmanager.Lock, error) {
		return m.Renew(context.Background(), lockmanager.RenewOptions{Key: key, Holder: holder, Version: version, LeaseDuration: d})
	}

	t.Run("Success", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, map[string]string{"x": "1"})
		r, err := renew(m, "k", "a", l.Version, 2*lease)
		if err != nil {
			t.Fatalf("Renew: %v", err)
		}
		s.checkGrant(t, r, "k", "a", 2*lease)
		if r.Version == l.Version || r.FencingToken != l.FencingToken || !r.ExpiresAt.After(l.ExpiresAt) {
			t.Fatalf("Renew = version %q token %d expiry %s; want a new version, token %d, expiry after %s",
				r.Version, r.FencingToken, r.ExpiresAt, l.FencingToken, l.ExpiresAt)
		}
		if diff := cmp.Diff(map[string]string{"x": "1"}, r.Metadata, lockOpts); diff != "" {
			t.Fatalf("Renew without metadata must keep it (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(r, get(t, m, "k"), lockOpts); diff != "" {
			t.Fatalf("Get after Renew (-want +got):\n%s", diff)
		}
		r2, err := m.Renew(context.Background(), lockmanager.RenewOptions{Key: "k", Holder: "a", Version: r.Version,
			LeaseDuration: lease, Metadata: map[string]string{"y": "2"}})
		if err != nil {
			t.Fatalf("Renew with metadata: %v", err)
		}
		if diff := cmp.Diff(map[string]string{"y": "2"}, r2.Metadata, lockOpts); diff != "" {
			t.Fatalf("Renew with metadata must replace it (-want +got):\n%s", diff)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		t.Parallel()
		_, err := renew(s.fresh(t), "absent", "a", "1", lease)
		wantErr(t, "Renew of an absent key", err, lockmanager.ErrNotFound)
	})

	t.Run("NotHolder", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		_, err := renew(m, "k", "b", l.Version, lease)
		wantErr(t, "Renew by another holder", err, lockmanager.ErrNotHolder)
	})

	t.Run("VersionMismatch", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		if _, err := renew(m, "k", "a", l.Version, lease); err != nil {
			t.Fatalf("Renew: %v", err)
		}
		_, err := renew(m, "k", "a", l.Version, lease)
		wantErr(t, "Renew with a stale version", err, lockmanager.ErrVersionMismatch)
	})

	t.Run("Expired", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", shortLease, nil)
		waitExpired(t, m, "k")
		_, err := renew(m, "k", "a", l.Version, lease)
		wantErr(t, "Renew of an expired lease", err, lockmanager.ErrLeaseExpired)
	})

	t.Run("ReleasedRecordIsNotHeld", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		if err := m.Release(context.Background(), lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
			t.Fatalf("Release: %v", err)
		}
		_, err := renew(m, "k", "a", l.Version, lease)
		wantErr(t, "Renew after release", err, lockmanager.ErrNotHolder)
	})
}

func (s *suite) testRelease(t *testing.T) {
	release := func(m *lockmanager.Manager, key, holder, version string, del bool) error {
		return m.Release(context.Background(), lockmanager.ReleaseOptions{Key: key, Holder: holder, Version: version, Delete: del})
	}

	t.Run("KeepsRecord", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, map[string]string{"x": "1"})
		if err := release(m, "k", "a", l.Version, false); err != nil {
			t.Fatalf("Release: %v", err)
		}
		got := get(t, m, "k")
		if got.Held || got.Holder != "" || got.FencingToken != l.FencingToken {
			t.Fatalf("released record = {Held:%v Holder:%q Token:%d}, want {false \"\" %d}", got.Held, got.Holder, got.FencingToken, l.FencingToken)
		}
		if len(got.Metadata) != 0 {
			t.Fatalf("released record kept the holder's metadata %v", got.Metadata)
		}
		next := acquire(t, m, "k", "b", lease, nil)
		if next.FencingToken <= l.FencingToken {
			t.Fatalf("token after release %d, want above %d", next.FencingToken, l.FencingToken)
		}
	})

	t.Run("Deletes", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		if err := release(m, "k", "a", l.Version, true); err != nil {
			t.Fatalf("Release with delete: %v", err)
		}
		_, err := m.Get(context.Background(), "k")
		wantErr(t, "Get after delete", err, lockmanager.ErrNotFound)
		page, err := m.List(context.Background(), lockmanager.ListOptions{})
		if err != nil || len(page.Locks) != 0 {
			t.Fatalf("List after delete = %d locks, %v; want none", len(page.Locks), err)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", lease, nil)
		wantErr(t, "Release of an absent key", release(m, "absent", "a", l.Version, false), lockmanager.ErrNotFound)
		wantErr(t, "Release by another holder", release(m, "k", "b", l.Version, false), lockmanager.ErrNotHolder)
		wantErr(t, "Release with a wrong version", release(m, "k", "a", l.Version+"0", false), lockmanager.ErrVersionMismatch)
		if err := release(m, "k", "a", l.Version, false); err != nil {
			t.Fatalf("Release: %v", err)
		}
		wantErr(t, "second Release", release(m, "k", "a", l.Version, false), lockmanager.ErrNotHolder)
	})

	t.Run("ExpiredLeaseWithMatchingVersion", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", shortLease, nil)
		waitExpired(t, m, "k")
		if err := release(m, "k", "a", l.Version, false); err != nil {
			t.Fatalf("Release of an expired, untouched lease: %v", err)
		}
		if got := get(t, m, "k"); got.Holder != "" || got.Held {
			t.Fatalf("record after release = %+v, want free", got)
		}
	})
}

func (s *suite) testFencingToken(t *testing.T) {
	t.Run("IncreasesAcrossTakeoverAfterExpiry", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		a := acquire(t, m, "k", "a", shortLease, nil)
		waitExpired(t, m, "k")
		b := acquire(t, m, "k", "b", lease, nil)
		if b.FencingToken <= a.FencingToken {
			t.Fatalf("takeover token %d, want above %d", b.FencingToken, a.FencingToken)
		}
		// The expired holder acquiring again is a new grant too.
		_, err := m.Renew(context.Background(), lockmanager.RenewOptions{Key: "k", Holder: "a", Version: a.Version, LeaseDuration: lease})
		wantErr(t, "Renew by the expired holder after takeover", err, lockmanager.ErrNotHolder)
	})

	t.Run("IncreasesAcrossReleaseAndDelete", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		var last uint64
		for i := range 6 {
			holder := fmt.Sprintf("h%d", i%2)
			l := acquire(t, m, "k", holder, lease, nil)
			if l.FencingToken <= last {
				t.Fatalf("grant %d token %d, want above %d", i, l.FencingToken, last)
			}
			last = l.FencingToken
			rel := lockmanager.ReleaseOptions{Key: "k", Holder: holder, Version: l.Version, Delete: i%2 == 1}
			if err := m.Release(context.Background(), rel); err != nil {
				t.Fatalf("Release %d: %v", i, err)
			}
		}
	})

	t.Run("ExpiredHolderReacquiringGetsNewToken", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		a := acquire(t, m, "k", "a", shortLease, nil)
		waitExpired(t, m, "k")
		again := acquire(t, m, "k", "a", lease, nil)
		if again.FencingToken <= a.FencingToken {
			t.Fatalf("re-grant after expiry token %d, want above %d", again.FencingToken, a.FencingToken)
		}
	})
}

func (s *suite) testExpiry(t *testing.T) {
	t.Run("HeldFalseAfterExpiryWithNobodyActing", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		l := acquire(t, m, "k", "a", shortLease, nil)
		got := waitExpired(t, m, "k")
		if got.Holder != "a" || got.FencingToken != l.FencingToken {
			t.Fatalf("expired record = holder %q token %d, want the expired holder a with token %d", got.Holder, got.FencingToken, l.FencingToken)
		}
		page, err := m.List(context.Background(), lockmanager.ListOptions{})
		if err != nil || len(page.Locks) != 1 || page.Locks[0].Held {
			t.Fatalf("List after expiry = %+v, %v; want one record, not held", page.Locks, err)
		}
	})
}

func (s *suite) testMetadata(t *testing.T) {
	t.Run("ReplacedNeverInheritedAfterRelease", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		a := acquire(t, m, "k", "a", lease, map[string]string{"owner": "a", "shared": "a"})
		if err := m.Release(context.Background(), lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: a.Version}); err != nil {
			t.Fatal(err)
		}
		b := acquire(t, m, "k", "b", lease, nil)
		if len(b.Metadata) != 0 {
			t.Fatalf("new holder inherited metadata %v", b.Metadata)
		}
	})

	t.Run("ReplacedNeverInheritedAfterExpiry", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		acquire(t, m, "k", "a", shortLease, map[string]string{"owner": "a", "shared": "a"})
		waitExpired(t, m, "k")
		b := acquire(t, m, "k", "b", lease, map[string]string{"shared": "b"})
		if diff := cmp.Diff(map[string]string{"shared": "b"}, b.Metadata, lockOpts); diff != "" {
			t.Fatalf("takeover metadata (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(b.Metadata, get(t, m, "k").Metadata, lockOpts); diff != "" {
			t.Fatalf("stored metadata (-want +got):\n%s", diff)
		}
	})

	t.Run("ValuesRoundTripExactly", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		md := map[string]string{
			"a:b#c":                  "x:y#z",
			"quote\"'`":              "line1\nline2\r\n\ttabbed",
			"ünïcødé 键":              "值 🚀",
			"empty":                  "",
			"json":                   `{"a":[1,2],"b":null}`,
			"sep=;,|":                "=;,|\\",
			strings.Repeat("k", 200): strings.Repeat("v", 8000),
		}
		l := acquire(t, m, "k", "a", lease, md)
		if diff := cmp.Diff(md, l.Metadata); diff != "" {
			t.Fatalf("acquire metadata (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(md, get(t, m, "k").Metadata); diff != "" {
			t.Fatalf("stored metadata (-want +got):\n%s", diff)
		}
	})
}

// hostileNames are keys and holders that break string-joined formats,
// naive object-name mappings and LIKE patterns.
var hostileNames = []string{
	"scheduler:background:lease",
	"a#b#c",
	"with spaces,  double  spaces and a question?",
	"ünïcødé/键/🔒",
	`quotes "double" 'single' \back\slash`,
	"percent%and_underscore",
	"../../etc/passwd",
	"UPPER.lower-MiXeD_09",
	"-leading-dash",
	"trailing.",
	"a/b", "a-b", "a_b", "A/B",
	strings.Repeat("k", 256),
	strings.Repeat("é", 128), // 256 bytes of 2-byte runes
}

func (s *suite) testNames(t *testing.T) {
	t.Run("HostileKeysAndHoldersRoundTrip", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		for _, key := range hostileNames {
			holder := key // holders share the rules of keys
			l := acquire(t, m, key, holder, lease, map[string]string{"key": key})
			if l.Key != key || l.Holder != holder {
				t.Fatalf("acquire(%q, %q) returned key %q holder %q", key, holder, l.Key, l.Holder)
			}
			got := get(t, m, key)
			if got.Key != key || got.Holder != holder || got.Metadata["key"] != key {
				t.Fatalf("Get(%q) = key %q holder %q metadata %v", key, got.Key, got.Holder, got.Metadata)
			}
			ren := lockmanager.RenewOptions{Key: key, Holder: holder, Version: l.Version, LeaseDuration: lease}
			if _, err := m.Renew(context.Background(), ren); err != nil {
				t.Fatalf("Renew(%q): %v", key, err)
			}
		}
		// Every name is its own lock: listing returns each once.
		listed := listAll(t, m, "", 7)
		keys := make([]string, 0, len(listed))
		for _, l := range listed {
			keys = append(keys, l.Key)
		}
		want := sortedUnique(hostileNames)
		if diff := cmp.Diff(want, keys); diff != "" {
			t.Fatalf("listed keys (-want +got):\n%s", diff)
		}
	})

	t.Run("KeysDifferingOnlyInCaseOrSeparatorAreDistinct", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		for _, key := range []string{"Job", "job", "JOB", "a.b", "a-b", "a_b", "a/b", "a:b"} {
			l := acquire(t, m, key, "holder-"+key, lease, nil)
			if l.Holder != "holder-"+key {
				t.Fatalf("key %q granted to %q", key, l.Holder)
			}
		}
	})
}

func sortedUnique(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func listAll(t *testing.T, m *lockmanager.Manager, prefix string, pageSize int) []lockmanager.Lock {
	t.Helper()
	var all []lockmanager.Lock
	token := ""
	for pages := 0; ; pages++ {
		if pages > 10000 {
			t.Fatalf("List(%q) did not end after %d pages", prefix, pages)
		}
		page, err := m.List(context.Background(), lockmanager.ListOptions{Prefix: prefix, PageSize: pageSize, PageToken: token})
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		if len(page.Locks) > pageSize {
			t.Fatalf("List(%q) page of %d locks, page size %d", prefix, len(page.Locks), pageSize)
		}
		all = append(all, page.Locks...)
		if page.NextPageToken == "" {
			return all
		}
		token = page.NextPageToken
	}
}

func (s *suite) testList(t *testing.T) {
	t.Run("ByPrefixAcrossPages", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		want := make([]string, 0, 23)
		for i := range 23 {
			key := fmt.Sprintf("jobs/%02d", i)
			want = append(want, key)
			acquire(t, m, key, "a", lease, nil)
		}
		for _, other := range []string{"job", "jobs", "jobsX", "other/1", "JOBS/1"} {
			acquire(t, m, other, "a", lease, nil)
		}
		for _, size := range []int{1, 7, 23, 100} {
			var got []string
			for _, l := range listAll(t, m, "jobs/", size) {
				if !l.Held || l.Holder != "a" {
					t.Fatalf("listed %q as held=%v by %q", l.Key, l.Held, l.Holder)
				}
				got = append(got, l.Key)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("page size %d (-want +got):\n%s", size, diff)
			}
		}
		if n := len(listAll(t, m, "", 10)); n != 28 {
			t.Fatalf("List with no prefix = %d records, want 28", n)
		}
	})

	t.Run("PrefixIsLiteral", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		for _, key := range []string{"a%b", "a_b", "axb", "a\\b", "a*b", "a.b", "a"} {
			acquire(t, m, key, "h", lease, nil)
		}
		for prefix, want := range map[string][]string{
			"a%":  {"a%b"},
			"a_":  {"a_b"},
			"a\\": {"a\\b"},
			"a*":  {"a*b"},
			"a.":  {"a.b"},
			"zzz": nil,
		} {
			var got []string
			for _, l := range listAll(t, m, prefix, 100) {
				got = append(got, l.Key)
			}
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("prefix %q (-want +got):\n%s", prefix, diff)
			}
		}
	})
}

func (s *suite) testNamespaces(t *testing.T) {
	t.Run("DescribesItsKindAndNamespace", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		b := s.h.Open(t, ns)
		t.Cleanup(func() { _ = b.Close() })
		// Client metrics are labelled with what Describe says.
		if d := backends.Describe(b); d.Backend == "" || d.Backend == "unknown" || d.Namespace != ns {
			t.Fatalf("Describe() = %+v, want the backend's URL scheme and namespace %q", d, ns)
		}
	})
	t.Run("SameKeyInTwoNamespacesIsTwoLocks", func(t *testing.T) {
		t.Parallel()
		one, two := s.fresh(t), s.fresh(t)
		a := acquire(t, one, "k", "a", lease, nil)
		b := acquire(t, two, "k", "b", lease, nil)
		if a.Holder != "a" || b.Holder != "b" {
			t.Fatalf("holders %q and %q", a.Holder, b.Holder)
		}
		if got := get(t, one, "k"); got.Holder != "a" {
			t.Fatalf("namespace one sees holder %q", got.Holder)
		}
		if n := len(listAll(t, two, "", 10)); n != 1 {
			t.Fatalf("namespace two lists %d records, want 1", n)
		}
	})
}

func (s *suite) testInvalidArgument(t *testing.T) {
	t.Parallel()
	m := s.fresh(t)
	ctx := context.Background()
	ok := lockmanager.AcquireOptions{Key: "k", Holder: "h", LeaseDuration: lease}
	with := func(f func(*lockmanager.AcquireOptions)) lockmanager.AcquireOptions {
		o := ok
		f(&o)
		return o
	}
	bigMeta := map[string]string{}
	for i := range 65 {
		bigMeta[fmt.Sprint(i)] = "v"
	}
	largeMeta := map[string]string{"k": strings.Repeat("v", 16<<10)}
	for _, tc := range []struct {
		name, field string
		opts        lockmanager.AcquireOptions
	}{
		{"EmptyKey", "Key", with(func(o *lockmanager.AcquireOptions) { o.Key = "" })},
		{"KeyTooLong", "Key", with(func(o *lockmanager.AcquireOptions) { o.Key = strings.Repeat("k", 257) })},
		{"KeyControlChar", "Key", with(func(o *lockmanager.AcquireOptions) { o.Key = "a\nb" })},
		{"KeyInvalidUTF8", "Key", with(func(o *lockmanager.AcquireOptions) { o.Key = "a\xffb" })},
		{"EmptyHolder", "Holder", with(func(o *lockmanager.AcquireOptions) { o.Holder = "" })},
		{"HolderTooLong", "Holder", with(func(o *lockmanager.AcquireOptions) { o.Holder = strings.Repeat("h", 257) })},
		{"HolderNUL", "Holder", with(func(o *lockmanager.AcquireOptions) { o.Holder = "a\x00b" })},
		{"LeaseZero", "LeaseDuration", with(func(o *lockmanager.AcquireOptions) { o.LeaseDuration = 0 })},
		{"LeaseNegative", "LeaseDuration", with(func(o *lockmanager.AcquireOptions) { o.LeaseDuration = -time.Second })},
		{"LeaseUnderOneSecond", "LeaseDuration", with(func(o *lockmanager.AcquireOptions) { o.LeaseDuration = 999 * time.Millisecond })},
		{"LeaseOver24h", "LeaseDuration", with(func(o *lockmanager.AcquireOptions) { o.LeaseDuration = 24*time.Hour + time.Millisecond })},
		{"LeaseSubMillisecond", "LeaseDuration", with(func(o *lockmanager.AcquireOptions) { o.LeaseDuration = time.Second + time.Microsecond })},
		{"WaitNegative", "Wait", with(func(o *lockmanager.AcquireOptions) { o.Wait = -1 })},
		{"WaitOver24h", "Wait", with(func(o *lockmanager.AcquireOptions) { o.Wait = 25 * time.Hour })},
		{"RefreshUnder10ms", "RefreshPeriod", with(func(o *lockmanager.AcquireOptions) { o.RefreshPeriod = 9 * time.Millisecond })},
		{"RefreshNotBelowLease", "RefreshPeriod", with(func(o *lockmanager.AcquireOptions) { o.RefreshPeriod = lease })},
		{"MetadataTooManyEntries", "Metadata", with(func(o *lockmanager.AcquireOptions) { o.Metadata = bigMeta })},
		{"MetadataTooLarge", "Metadata", with(func(o *lockmanager.AcquireOptions) { o.Metadata = largeMeta })},
		{"MetadataEmptyKey", "Metadata", with(func(o *lockmanager.AcquireOptions) { o.Metadata = map[string]string{"": "v"} })},
		{"MetadataNULValue", "Metadata", with(func(o *lockmanager.AcquireOptions) { o.Metadata = map[string]string{"k": "a\x00"} })},
	} {
		t.Run("Acquire"+tc.name, func(t *testing.T) {
			_, err := m.Acquire(ctx, tc.opts)
			wantErr(t, tc.name, err, lockmanager.ErrInvalidArgument)
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name the field %s", err, tc.field)
			}
		})
	}
	// The bounds themselves are valid.
	for _, o := range []lockmanager.AcquireOptions{
		with(func(o *lockmanager.AcquireOptions) { o.Key = strings.Repeat("k", 256); o.LeaseDuration = time.Second }),
		with(func(o *lockmanager.AcquireOptions) {
			o.Key = "max"
			o.LeaseDuration = 24 * time.Hour
			o.RefreshPeriod = 10 * time.Millisecond
		}),
		with(func(o *lockmanager.AcquireOptions) {
			o.Key = "meta"
			o.Metadata = map[string]string{"k": strings.Repeat("v", 16<<10-1)}
		}),
	} {
		if _, err := m.Acquire(ctx, o); err != nil {
			t.Fatalf("Acquire at the bounds (key %.10q, lease %s): %v", o.Key, o.LeaseDuration, err)
		}
	}
	t.Run("Renew", func(t *testing.T) {
		_, err := m.Renew(ctx, lockmanager.RenewOptions{Key: "k", Holder: "h", Version: "", LeaseDuration: lease})
		wantErr(t, "Renew without version", err, lockmanager.ErrInvalidArgument)
		_, err = m.Renew(ctx, lockmanager.RenewOptions{Key: "k", Holder: "h", Version: "1", LeaseDuration: 500 * time.Millisecond})
		wantErr(t, "Renew with a short lease", err, lockmanager.ErrInvalidArgument)
	})
	t.Run("Release", func(t *testing.T) {
		err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "", Version: "1"})
		wantErr(t, "Release without holder", err, lockmanager.ErrInvalidArgument)
	})
	t.Run("GetAndList", func(t *testing.T) {
		_, err := m.Get(ctx, "")
		wantErr(t, "Get of an empty key", err, lockmanager.ErrInvalidArgument)
		_, err = m.List(ctx, lockmanager.ListOptions{PageSize: 1001})
		wantErr(t, "List with page size 1001", err, lockmanager.ErrInvalidArgument)
		_, err = m.List(ctx, lockmanager.ListOptions{PageSize: -1})
		wantErr(t, "List with page size -1", err, lockmanager.ErrInvalidArgument)
	})
}
