package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// The local clock, passed into each statement, decides expiry: a lease is
// held until the clock reaches its expiry and not a millisecond longer,
// whatever the wall clock says.
func TestLocalClockDecidesExpiry(t *testing.T) {
	ctx := context.Background()
	b, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "locks.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = b.Close() }()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	b.now = func() time.Time { return now }

	l, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(10 * time.Second); !l.ExpiresAt.Equal(want) || !l.AcquiredAt.Equal(now) {
		t.Fatalf("AcquiredAt %s ExpiresAt %s, want %s and %s", l.AcquiredAt, l.ExpiresAt, now, want)
	}
	now = l.ExpiresAt.Add(-time.Millisecond)
	if _, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Second}); !errors.Is(err, backends.ErrLockHeld) {
		t.Fatalf("Acquire 1ms before expiry: %v, want ErrLockHeld", err)
	}
	if got, err := b.Get(ctx, "k"); err != nil || !got.Held {
		t.Fatalf("Get 1ms before expiry = %+v, %v; want held", got, err)
	}
	now = l.ExpiresAt
	if got, err := b.Get(ctx, "k"); err != nil || got.Held {
		t.Fatalf("Get at expiry = %+v, %v; want not held", got, err)
	}
	if _, err := b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: time.Second}); !errors.Is(err, backends.ErrLeaseExpired) {
		t.Fatalf("Renew at expiry: %v, want ErrLeaseExpired", err)
	}
	taken, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "b", LeaseDuration: time.Second})
	if err != nil || taken.FencingToken <= l.FencingToken || !taken.AcquiredAt.Equal(now) {
		t.Fatalf("takeover at expiry = %+v, %v; want a grant at %s with a token above %d", taken, err, now, l.FencingToken)
	}
}
