package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// testNotify runs for backends that implement backends.Notifier: a
// subscriber on one client is signalled when another client of the same
// namespace releases or deletes the lock, and the subscription ends with
// its context.
func (s *suite) testNotify(t *testing.T) {
	for _, del := range []bool{false, true} {
		name := "SignalledWhenAnotherClientReleases"
		if del {
			name = "SignalledWhenAnotherClientDeletes"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			sub := s.h.Open(t, ns)
			t.Cleanup(func() { _ = sub.Close() })
			n, ok := sub.(backends.Notifier)
			if !ok {
				t.Fatalf("%T stopped implementing backends.Notifier", sub)
			}
			other := s.manager(t, ns)
			l := acquire(t, other, "k", "a", lease, nil)

			ctx, cancel := context.WithCancel(context.Background())
			ch, err := n.Subscribe(ctx, "k")
			if err != nil {
				cancel()
				t.Fatalf("Subscribe: %v", err)
			}
			rel := lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: l.Version, Delete: del}
			if err := other.Release(context.Background(), rel); err != nil {
				cancel()
				t.Fatalf("Release: %v", err)
			}
			select {
			case _, open := <-ch:
				if !open {
					t.Fatal("subscription closed instead of signalling")
				}
			case <-time.After(liveness):
				t.Fatalf("no signal %s after the release", liveness)
			}
			cancel()
			deadline := time.After(liveness)
			for {
				select {
				case _, open := <-ch:
					if !open {
						return
					}
				case <-deadline:
					t.Fatalf("subscription still open %s after its context ended", liveness)
				}
			}
		})
	}
}
