package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	lhredis "github.com/leasehold/leasehold/pkg/backends/redis"
)

// benchBackend is a backend on the shared server in a namespace of its own.
func benchBackend(b *testing.B) *lhredis.Backend {
	b.Helper()
	return newBackend(b, client, lhredis.WithNamespace(fmt.Sprintf("bench-%s-%d", b.Name(), time.Now().UnixNano())))
}

// BenchmarkAcquireRelease measures uncontended acquire+release pairs, each
// two round trips.
func BenchmarkAcquireRelease(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	req := &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute}
	for b.Loop() {
		l, err := be.Acquire(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: l.Version}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkRenew measures renewals of one held lease.
func BenchmarkRenew(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	l, err := be.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if l, err = be.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: l.Version, LeaseDuration: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "renewals/s")
}

// BenchmarkContendedAcquire has GOMAXPROCS goroutines (each a holder of its
// own) race for one key without waiting; a winner releases at once. It
// reports attempts and grants per second.
func BenchmarkContendedAcquire(b *testing.B) {
	be := benchBackend(b)
	ctx := context.Background()
	var holders, grants atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		holder := fmt.Sprintf("h%d", holders.Add(1))
		req := &backends.AcquireRequest{Key: "k", Holder: holder, LeaseDuration: time.Minute}
		for pb.Next() {
			l, err := be.Acquire(ctx, req)
			switch {
			case err == nil:
				grants.Add(1)
				if err := be.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: holder, Version: l.Version}); err != nil {
					b.Error(err)
					return
				}
			case !errors.Is(err, backends.ErrLockHeld):
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "attempts/s")
	b.ReportMetric(float64(grants.Load())/b.Elapsed().Seconds(), "grants/s")
}
