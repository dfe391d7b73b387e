package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestConformance(t *testing.T) {
	store := memory.NewStore()
	backendtest.RunConformanceTests(t, backendtest.Harness{
		Open: func(t *testing.T, namespace string) backends.Backend {
			return store.Backend(namespace)
		},
	})
}

// The injected clock decides expiry: a lease is held until the fake clock
// reaches its expiry and not a nanosecond longer.
func TestInjectedClockDecidesExpiry(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	b := memory.New(memory.WithStore(memory.NewStore(memory.WithClock(clk))))
	ctx := context.Background()
	l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := clk.Now().Add(10 * time.Second); !l.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %s, want %s", l.ExpiresAt, want)
	}
	clk.SetTime(l.ExpiresAt.Add(-time.Nanosecond))
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Second}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("Acquire 1ns before expiry: %v, want ErrLockHeld", err)
	}
	clk.SetTime(l.ExpiresAt)
	got, err := b.Get(ctx, "k")
	if err != nil || got.Held {
		t.Fatalf("Get at expiry = %+v, %v; want not held", got, err)
	}
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: time.Second}); !errors.Is(err, backends.ErrLeaseExpired) {
		t.Fatalf("Renew at expiry: %v, want ErrLeaseExpired", err)
	}
	taken, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Second})
	if err != nil || taken.FencingToken <= l.FencingToken {
		t.Fatalf("takeover at expiry = %+v, %v; want a grant with a higher token", taken, err)
	}
}

func TestOpenByURLSharesTheProcessStore(t *testing.T) {
	ctx := context.Background()
	one, err := backends.Open(ctx, "memory://team-a")
	if err != nil {
		t.Fatal(err)
	}
	two, err := backends.Open(ctx, "memory://team-a")
	if err != nil {
		t.Fatal(err)
	}
	other, err := backends.Open(ctx, "memory://team-b")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := one.Acquire(ctx, &backends.AcquireRequest{Key: "url-k", Holder: "a", LeaseDuration: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := two.Acquire(ctx, &backends.AcquireRequest{Key: "url-k", Holder: "b", LeaseDuration: time.Minute}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("second client of the same namespace: %v, want ErrLockHeld", err)
	}
	if _, err := other.Acquire(ctx, &backends.AcquireRequest{Key: "url-k", Holder: "b", LeaseDuration: time.Minute}); err != nil {
		t.Fatalf("another namespace: %v", err)
	}
}

func TestSubscribeSignalsReleaseAndEndsWithContext(t *testing.T) {
	store := memory.NewStore()
	b := store.Backend("ns")
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := b.Subscribe(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
		t.Fatal("signal on acquire; want signals only when the lock may be free")
	default:
	}
	if err := b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	<-ch // the release signalled
	cancel()
	for range ch { // closed once the subscription ends
	}
}
