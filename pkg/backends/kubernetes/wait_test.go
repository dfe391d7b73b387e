package kubernetes_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// A waiting Acquire of a free key is what a try is: one write, and no
// watch, however many in a row.
func TestWaitingAcquireOfFreeKeyIsOneRequest(t *testing.T) {
	ctx := context.Background()
	c, counter := countingClient(t)
	m := lockmanager.New(newBackend(t, c, freshNamespace(t)))
	defer m.Close()
	// Warm: discovery, and the client's first sighting of the key.
	l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		counter.take()
		l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease, Wait: lockmanager.MaxWait})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]int{"PUT": 1}, counter.take()); diff != "" {
			t.Fatalf("waiting Acquire %d of a free key: requests by method (-want +got):\n%s", i, diff)
		}
		if err := m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version}); err != nil {
			t.Fatal(err)
		}
	}
}

// Waiting Acquires in a row on a contended key share one watch: it
// outlives each wait.
func TestWaitingAcquiresShareOneWatch(t *testing.T) {
	ctx := context.Background()
	ns := freshNamespace(t)
	c, counter := countingClient(t)
	m := lockmanager.New(newBackend(t, c, ns))
	defer m.Close()
	holder := lockmanager.New(newBackend(t, k8s, ns))
	defer holder.Close()
	const rounds = 5
	watches := 0
	for i := range rounds {
		h, err := holder.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "holder", LeaseDuration: lease})
		if err != nil {
			t.Fatal(err)
		}
		counter.take()
		tried := 0
		done := make(chan error, 1)
		go func() {
			l, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease, Wait: lockmanager.MaxWait, RefreshPeriod: 10 * time.Second})
			if err == nil {
				err = m.Release(ctx, lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version})
			}
			done <- err
		}()
		// Release once the waiter has found the key held (a refused
		// acquire reads the object), so that it has to wait.
		for deadline := time.Now().Add(time.Minute); tried == 0; time.Sleep(time.Millisecond) {
			got := counter.take()
			tried += got["GET"]
			watches += got["WATCH"]
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
		watches += counter.take()["WATCH"]
	}
	if watches != 1 {
		t.Fatalf("%d waiting Acquires of a held key opened %d watches, want 1", rounds, watches)
	}
}
