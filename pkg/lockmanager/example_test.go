package lockmanager_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// The basic calls: acquire, renew with the version the last call returned,
// release.
func Example() {
	ctx := context.Background()
	m := lockmanager.New(memory.New()) // or lockmanager.Open(ctx, "sqlite:///var/lib/app/locks.db")
	defer m.Close()

	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{
		Key:           "scheduler:background:lease",
		Holder:        "node-1",
		LeaseDuration: 30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	l, err = m.Renew(ctx, lockmanager.RenewOptions{
		Key: l.Key, Holder: "node-1", Version: l.Version, LeaseDuration: 30 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: l.Key, Holder: "node-1", Version: l.Version}); err != nil {
		panic(err)
	}
	fmt.Println("held by", l.Holder, "with fencing token", l.FencingToken)
	// Output: held by node-1 with fencing token 1
}

// A second holder is refused with the current holder and expiry.
func ExampleManager_Acquire_held() {
	ctx := context.Background()
	m := lockmanager.New(memory.New())
	defer m.Close()
	_, _ = m.Acquire(ctx, lockmanager.AcquireOptions{Key: "migration:2026-11", Holder: "node-1", LeaseDuration: time.Minute})

	_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "migration:2026-11", Holder: "node-2", LeaseDuration: time.Minute})
	var held *lockmanager.HeldError
	if errors.As(err, &held) {
		fmt.Println("held by", held.Holder)
	}
	// Output: held by node-1
}

// A background scheduler that must run on exactly one node: it holds a
// session and processes work only while the session's context is alive,
// passing the fencing token with every write so that the store can refuse
// a former holder that was paused past its lease.
func ExampleHold_backgroundScheduler() {
	ctx := context.Background()
	m := lockmanager.New(memory.New())
	defer m.Close()

	sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{
		Key:           "scheduler:background:lease",
		Holder:        "node-1",
		LeaseDuration: 10 * time.Second, // renewed every 10s/3 in the background
		Wait:          time.Minute,      // wait for the current leader to go
	})
	if err != nil {
		panic(err)
	}
	work := sess.Context() // cancelled the moment the lease may be lost
	jobs := []string{"send-invoices", "rotate-keys", "compact"}
	for _, job := range jobs {
		select {
		case <-work.Done():
			fmt.Println("stopping:", context.Cause(work))
			return
		default:
		}
		fmt.Printf("run %s with fencing token %d\n", job, sess.FencingToken())
	}
	if err := sess.Release(ctx); err != nil {
		panic(err)
	}
	fmt.Println("session ended:", errors.Is(sess.Err(), lockmanager.ErrReleased))
	// Output:
	// run send-invoices with fencing token 1
	// run rotate-keys with fencing token 1
	// run compact with fencing token 1
	// session ended: true
}
