package redis_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	goredis "github.com/redis/go-redis/v9"

	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// countedManager returns a Manager over a Backend of a client of its own
// whose commands and dials hook counts, in namespace ns.
func countedManager(t *testing.T, ns string) (*lockmanager.Manager, *countingHook) {
	t.Helper()
	opts, err := goredis.ParseURL(server.URL())
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(opts)
	hook := &countingHook{}
	c.AddHook(hook)
	m := lockmanager.New(newBackend(t, c, lhredis.WithNamespace(ns)))
	t.Cleanup(func() { _ = m.Close(); _ = c.Close() })
	return m, hook
}

// liveness bounds the wait for something that must happen; it is not a
// measured threshold.
const liveness = 20 * time.Second

func waitingAcquire(holder string) lockmanager.AcquireOptions {
	return lockmanager.AcquireOptions{Key: "k", Holder: holder, LeaseDuration: time.Hour, Wait: lockmanager.MaxWait, RefreshPeriod: time.Minute}
}

// A waiting Acquire of a free key is what a try is: one EVALSHA on a
// pooled connection, no SUBSCRIBE and no new connection, however many in
// a row.
func TestWaitingAcquireOfFreeKeyIsOneCommand(t *testing.T) {
	m, hook := countedManager(t, "wait-free")
	ctx := context.Background()
	release := func(l lockmanager.Lock) {
		t.Helper()
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: l.Key, Holder: l.Holder, Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
	// Warm: load the scripts and dial the pooled connection.
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	release(l)
	dials := hook.dialed()
	for i := range 20 {
		hook.take()
		l, err := m.Acquire(ctx, waitingAcquire("a"))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"evalsha"}, hook.take()); diff != "" {
			t.Fatalf("waiting Acquire %d of a free key: commands sent (-want +got):\n%s", i, diff)
		}
		release(l)
	}
	if got := hook.dialed() - dials; got != 0 {
		t.Fatalf("20 waiting Acquires of a free key dialled %d connections, want 0", got)
	}
}

// Waiting Acquires in a row on a contended key share one subscription:
// one PubSub connection for all of them, since it outlives each wait.
func TestWaitingAcquiresShareOnePubSubConnection(t *testing.T) {
	m, hook := countedManager(t, "wait-shared")
	holder := lockmanager.New(newBackend(t, client, lhredis.WithNamespace("wait-shared")))
	ctx := context.Background()
	// Warm the pool and the scripts.
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "warm", Holder: "a", LeaseDuration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "warm", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	dials := hook.dialed()
	const rounds = 5
	for i := range rounds {
		h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		hook.take()
		done := make(chan error, 1)
		go func() {
			l, err := m.Acquire(ctx, waitingAcquire("a"))
			if err == nil {
				err = m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version})
			}
			done <- err
		}()
		// Release once the waiter has found the key held, so that it
		// has to wait.
		for deadline := time.Now().Add(liveness); ; time.Sleep(time.Millisecond) {
			if slices.Contains(hook.take(), "evalsha") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the waiter never tried", i)
			}
		}
		if err := holder.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "holder", Version: h.Version}); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if got := hook.dialed() - dials; got != 1 {
		t.Fatalf("%d waiting Acquires of a held key dialled %d connections, want 1 (one PubSub connection)", rounds, got)
	}
}
