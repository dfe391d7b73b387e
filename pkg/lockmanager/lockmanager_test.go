package lockmanager_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestOutcome(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{backends.InvalidArgument("Key", "bad"), "invalid_argument"},
		{backends.Held("k", "a", time.Now()), "held"},
		{backends.KeyError("renewing", "k", lockmanager.ErrNotFound), "not_found"},
		{backends.KeyError("renewing", "k", lockmanager.ErrNotHolder), "not_holder"},
		{backends.KeyError("renewing", "k", lockmanager.ErrVersionMismatch), "version_mismatch"},
		{backends.KeyError("renewing", "k", lockmanager.ErrLeaseExpired), "expired"},
		{backends.KeyError("renewing", "k", lockmanager.ErrClosed), "closed"},
		{backends.Unavailable("renewing", "k", errors.New("dial tcp: refused")), "unavailable"},
		{context.Canceled, "canceled"},
		{lockmanager.ErrReleased, "released"},
		{lockmanager.ErrLost, "lost"},
		{errors.New("something else"), "error"},
	} {
		if got := lockmanager.Outcome(tc.err); got != tc.want {
			t.Errorf("Outcome(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestLossCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("holding %q: %w", "k", lockmanager.ErrReleased), ""},
		{fmt.Errorf("holding %q: %w: %w", "k", lockmanager.ErrReleased, context.Canceled), ""},
		{backends.KeyError("renewing", "k", lockmanager.ErrClosed), ""},
		{fmt.Errorf("holding %q: %w: no renewal confirmed before the safe deadline: %w", "k", lockmanager.ErrLeaseExpired, lockmanager.ErrUnavailable), "not_renewed"},
		{fmt.Errorf("renewing %q: %w: %w", "k", lockmanager.ErrLost, lockmanager.ErrLeaseExpired), "expired"},
		{fmt.Errorf("renewing %q: %w: %w", "k", lockmanager.ErrLost, lockmanager.ErrNotHolder), "taken_over"},
		{fmt.Errorf("renewing %q: %w: %w", "k", lockmanager.ErrLost, lockmanager.ErrVersionMismatch), "taken_over"},
		{fmt.Errorf("holding %q: %w: %w", "k", lockmanager.ErrLost, lockmanager.ErrNotFound), "deleted"},
	} {
		if got := lockmanager.LossCause(tc.err); got != tc.want {
			t.Errorf("LossCause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// A waiter on a held lock sleeps between tries: with a 100 ms refresh
// period and a 1 s wait it makes at most one try per 50 ms (the jitter's
// lower bound) plus the first and the last, however fast the backend
// answers.
func TestWaitNeverBusyLoops(t *testing.T) {
	store := memory.NewStore()
	holder := lockmanager.New(store.Backend("ns"))
	defer holder.Close()
	if _, err := holder.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	counted := backendtest.NewFaulty(store.Backend("ns")) // NoFault: counts calls
	waiter := lockmanager.New(counted)
	defer waiter.Close()
	const wait, refresh = time.Second, 100 * time.Millisecond
	_, err := waiter.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: time.Minute, Wait: wait, RefreshPeriod: refresh})
	if !errors.Is(err, lockmanager.ErrLockHeld) {
		t.Fatalf("Acquire = %v, want ErrLockHeld", err)
	}
	if max := int64(wait/(refresh/2)) + 2; counted.Calls() > max {
		t.Fatalf("waiter made %d calls in %s, more than %d: it is spinning", counted.Calls(), wait, max)
	}
	if counted.Calls() < 3 {
		t.Fatalf("waiter made only %d calls in %s: it is not polling", counted.Calls(), wait)
	}
}

// Unavailability while waiting is retried within the wait, and the last
// error is reported when the wait runs out.
func TestWaitRetriesUnavailable(t *testing.T) {
	f := backendtest.NewFaulty(memory.New())
	m := lockmanager.New(f)
	defer m.Close()
	f.SetNext(backendtest.FailFast, 2)
	l, err := m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Minute, Wait: 10 * time.Second, RefreshPeriod: 10 * time.Millisecond})
	if err != nil || l.Holder != "a" {
		t.Fatalf("Acquire = %+v, %v; want a grant after two transient failures", l, err)
	}
	f.Set(backendtest.FailFast)
	_, err = m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k2", Holder: "a", LeaseDuration: time.Minute, Wait: 200 * time.Millisecond, RefreshPeriod: 10 * time.Millisecond})
	if !errors.Is(err, lockmanager.ErrUnavailable) {
		t.Fatalf("Acquire on a failing backend = %v, want ErrUnavailable", err)
	}
	// Without a wait, a failure is returned at once.
	_, err = m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k3", Holder: "a", LeaseDuration: time.Minute})
	if !errors.Is(err, lockmanager.ErrUnavailable) {
		t.Fatalf("Acquire = %v, want ErrUnavailable", err)
	}
}

// The manager hands the backend its own copy of the caller's metadata, so
// a caller mutating its map afterwards cannot change a record.
func TestMetadataIsCopied(t *testing.T) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	md := map[string]string{"a": "1"}
	if _, err := m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "h", LeaseDuration: time.Minute, Metadata: md}); err != nil {
		t.Fatal(err)
	}
	md["a"] = "changed"
	got, err := m.Get(context.Background(), "k")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1"}, got.Metadata); diff != "" {
		t.Fatalf("stored metadata (-want +got):\n%s", diff)
	}
	got.Metadata["a"] = "changed too"
	again, _ := m.Get(context.Background(), "k")
	if again.Metadata["a"] != "1" {
		t.Fatal("a returned record shares its metadata map with the store")
	}
}

func TestValidationMessagesNameFieldAndRule(t *testing.T) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	_, err := m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: strings.Repeat("k", 300), Holder: "h", LeaseDuration: time.Minute})
	if want := "invalid argument: Key: must be at most 256 bytes, got 300"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
	_, err = m.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "h", LeaseDuration: 500 * time.Millisecond})
	if want := "invalid argument: LeaseDuration: must be between 1s and 24h0m0s, got 500ms"; err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

// Sessions on one key never overlap: each believes it holds the lock only
// between its grant and its release, and the recorded intervals are
// disjoint with strictly increasing tokens.
func TestSessionsOnOneKeyNeverOverlap(t *testing.T) {
	store := memory.NewStore()
	type interval struct {
		from, to time.Time
		token    uint64
	}
	var mu sync.Mutex
	var got []interval
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := lockmanager.New(store.Backend("ns"))
			defer m.Close()
			for range 10 {
				sess, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: string(rune('a' + i)), LeaseDuration: time.Minute, Wait: time.Minute})
				if err != nil {
					t.Error(err)
					return
				}
				from := time.Now()
				time.Sleep(time.Millisecond) // the work
				to := time.Now()
				if err := sess.Release(context.Background()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got = append(got, interval{from, to, sess.FencingToken()})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 80 {
		t.Fatalf("%d intervals, want 80", len(got))
	}
	byToken := map[uint64]interval{}
	for _, iv := range got {
		if _, dup := byToken[iv.token]; dup {
			t.Fatalf("token %d granted twice", iv.token)
		}
		byToken[iv.token] = iv
	}
	for _, a := range got {
		for _, b := range got {
			if a.token < b.token && !a.to.Before(b.from) {
				t.Fatalf("grant %d (%s..%s) overlaps later grant %d (%s..%s)", a.token, a.from, a.to, b.token, b.from, b.to)
			}
		}
	}
}
