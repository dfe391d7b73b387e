package sqlbackendtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// BenchmarkAcquireRelease grants and releases 64 keys in turn on be.
func BenchmarkAcquireRelease(b *testing.B, be backends.Backend) {
	ctx := context.Background()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		key := fmt.Sprintf("k%d", i%64)
		l, err := be.Acquire(ctx, &backends.AcquireRequest{Key: key, Holder: "h", LeaseDuration: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := be.Release(ctx, &backends.ReleaseRequest{Key: key, Holder: "h", Version: l.Version}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pairs/s")
}

// BenchmarkRenew renews one lease on be.
func BenchmarkRenew(b *testing.B, be backends.Backend) {
	ctx := context.Background()
	l, err := be.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "h", LeaseDuration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for b.Loop() {
		if l, err = be.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "h", Version: l.Version, LeaseDuration: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "renews/s")
}

// BenchmarkContendedAcquire has parallel clients race for one key; a
// winner releases at once. Every iteration is one attempt, granted or
// refused. client returns the Backend each parallel client uses (its own,
// or one they share), called once per client.
func BenchmarkContendedAcquire(b *testing.B, client func() backends.Backend) {
	var mu sync.Mutex
	var n int
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		mu.Lock()
		n++
		holder := fmt.Sprintf("h%d", n)
		mu.Unlock()
		be := client()
		ctx := context.Background()
		for pb.Next() {
			l, err := be.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: holder, LeaseDuration: time.Minute})
			if errors.Is(err, backends.ErrLockHeld) {
				continue
			}
			if err != nil {
				b.Error(err)
				return
			}
			if err := be.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: holder, Version: l.Version}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "attempts/s")
}
