package lockmanager_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// The memory backend's benchmarks measure the Manager's own overhead
// (validation, copying, observer calls) over the cheapest store.

func BenchmarkAcquireRelease(b *testing.B) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprintf("k-%p", pb)
		for pb.Next() {
			l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: key, Holder: "h", LeaseDuration: time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: key, Holder: "h", Version: l.Version}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRenew(b *testing.B) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	ctx := context.Background()
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "h", LeaseDuration: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if l, err = m.Renew(ctx, lockmanager.RenewOptions{Key: "k", Holder: "h", Version: l.Version, LeaseDuration: time.Minute}); err != nil {
			b.Fatal(err)
		}
	}
}

// Contended: every goroutine competes for one key; an iteration is one
// attempt, granted or refused.
func BenchmarkContendedAcquire(b *testing.B) {
	m := lockmanager.New(memory.New())
	defer m.Close()
	ctx := context.Background()
	b.RunParallel(func(pb *testing.PB) {
		holder := fmt.Sprintf("h-%p", pb)
		for pb.Next() {
			l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "hot", Holder: holder, LeaseDuration: time.Minute})
			switch {
			case err == nil:
				if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "hot", Holder: holder, Version: l.Version}); err != nil {
					b.Fatal(err)
				}
			case !errors.Is(err, lockmanager.ErrLockHeld):
				b.Fatal(err)
			}
		}
	})
}
