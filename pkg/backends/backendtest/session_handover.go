package backendtest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// pausingObserver holds the first successful renewal's reply after the
// Manager received it and before the session records it, until gate is
// closed.
type pausingObserver struct {
	once    sync.Once
	reached chan struct{}
	gate    chan struct{}
}

func newPausingObserver() *pausingObserver {
	return &pausingObserver{reached: make(chan struct{}), gate: make(chan struct{})}
}

func (o *pausingObserver) ObserveOperation(op lockmanager.Operation, outcome string, _ time.Duration) {
	if op != lockmanager.OpRenew || outcome != "ok" {
		return
	}
	first := false
	o.once.Do(func() { first = true })
	if first {
		close(o.reached)
		<-o.gate
	}
}

func (o *pausingObserver) ObserveSessionEnd(string) {}

// testSessionHandOver gives a lease up (Release, or the parent context
// ending) while a renewal is at each point of its way: not yet sent, applied
// by the store with the reply not yet back, and answered but not yet
// recorded by the session. Whatever the renewal did, the release must find
// the current version, so that a waiter gets the lock at once. The lease is
// 30 s and the waiter waits a sixth of that: a release that failed would
// leave the lock to expire, and the waiter would give up first.
func (s *suite) testSessionHandOver(t *testing.T) {
	const handOverWait = lease / 6
	stages := []struct {
		name string
		at   Stage
		obs  bool // pause in the Manager's observer instead of the backend
	}{
		{"BeforeSend", BeforeStore, false},
		{"InFlight", AfterStore, false},
		{"BeforeRecorded", 0, true},
	}
	for _, stage := range stages {
		for _, how := range []string{"Release", "ParentCancel"} {
			t.Run("HandsOverAtOnceOn"+how+"WithRenewal"+stage.name, func(t *testing.T) {
				t.Parallel()
				ns := namespace(t)
				f := NewFaulty(s.h.Open(t, ns))
				obs := newPausingObserver()
				opts := []lockmanager.Option{}
				if stage.obs {
					opts = append(opts, lockmanager.WithObserver(obs))
				}
				m := lockmanager.New(f, opts...)
				t.Cleanup(func() { _ = m.Close() })
				waiter := s.manager(t, ns)

				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease,
					RefreshPeriod: 200 * time.Millisecond})
				if err != nil {
					t.Fatalf("Hold: %v", err)
				}
				var reached <-chan struct{} = obs.reached
				if !stage.obs {
					reached = f.PauseNextRenew(stage.at)
				}
				select {
				case <-reached:
				case <-time.After(liveness):
					t.Fatalf("no renewal within %s", liveness)
				}

				released := make(chan error, 1)
				if how == "Release" {
					go func() { released <- sess.Release(context.Background()) }()
				} else {
					cancel()
					released <- nil
				}
				if stage.obs {
					// The reply goes on to the session once the release has
					// been asked for; how long after does not matter, since
					// every order must hand over.
					if how == "Release" {
						time.Sleep(50 * time.Millisecond)
					}
					close(obs.gate)
				}

				l, err := waiter.Acquire(ctxFor(t), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease, Wait: handOverWait})
				if err != nil {
					t.Fatalf("waiter: %v (session: %v); the release did not free the lock, so it was left to expire", err, sess.Err())
				}
				if l.Holder != "b" || l.FencingToken <= sess.FencingToken() {
					t.Fatalf("waiter got %+v; want holder b with a token above %d", l, sess.FencingToken())
				}
				if err := <-released; err != nil {
					t.Fatalf("Release: %v", err)
				}
				<-sess.Done()
				if err := sess.Err(); !errors.Is(err, lockmanager.ErrReleased) {
					t.Fatalf("Err = %v; want ErrReleased", err)
				}
			})
		}
	}
}

// testSessionNotified runs for backends with change notifications: a
// session ends on the notification that its lock was released, deleted or
// taken over by someone else, long before its next renewal (10 s away)
// would notice, and its own renewals cost no reads.
func (s *suite) testSessionNotified(t *testing.T) {
	probe := s.h.Open(t, namespace(t))
	_, notifies := probe.(backends.Notifier)
	_ = probe.Close()
	if !notifies {
		return
	}
	// notified bounds how long after the change the session may end: well
	// inside the refresh period, so only a notification can meet it.
	const refresh, notified = 10 * time.Second, 5 * time.Second

	// releaseAs releases k with the holder's identity and current version,
	// as an operator (or a bug) elsewhere might.
	releaseAs := func(t *testing.T, other *lockmanager.Manager, holder string, del bool) {
		t.Helper()
		for {
			cur := get(t, other, "k")
			err := other.Release(context.Background(), lockmanager.ReleaseOptions{Key: "k", Holder: holder, Version: cur.Version, Delete: del})
			if err == nil {
				return
			}
			if !errors.Is(err, lockmanager.ErrVersionMismatch) {
				t.Fatalf("Release by another client: %v", err)
			}
		}
	}
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, other *lockmanager.Manager)
		want   error
	}{
		{"EndsWhenReleasedByAnother", func(t *testing.T, other *lockmanager.Manager) {
			releaseAs(t, other, "a", false)
		}, lockmanager.ErrNotHolder},
		{"EndsWhenRecordDeletedByAnother", func(t *testing.T, other *lockmanager.Manager) {
			releaseAs(t, other, "a", true)
		}, lockmanager.ErrNotFound},
		{"EndsWhenTakenOver", func(t *testing.T, other *lockmanager.Manager) {
			releaseAs(t, other, "a", false)
			acquire(t, other, "k", "b", lease, nil)
		}, lockmanager.ErrNotHolder},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			m, other := s.manager(t, ns), s.manager(t, ns)
			sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease, RefreshPeriod: refresh})
			tc.change(t, other)
			changed := time.Now()
			select {
			case <-sess.Context().Done():
				t.Logf("ended %s after the change", time.Since(changed))
			case <-time.After(notified):
				t.Fatalf("session still alive %s after the change (err %v): the notification was not acted on", notified, sess.Err())
			}
			err := sess.Err()
			if !errors.Is(err, lockmanager.ErrLost) || !errors.Is(err, tc.want) {
				t.Fatalf("Err = %v; want ErrLost wrapping %v", err, tc.want)
			}
			if cause := context.Cause(sess.Context()); !errors.Is(cause, lockmanager.ErrLost) {
				t.Fatalf("context cause = %v; want ErrLost", cause)
			}
			<-sess.Done()
		})
	}

	t.Run("OwnRenewalsCauseNoReads", func(t *testing.T) {
		t.Parallel()
		m, f := s.faultyManager(t, namespace(t))
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: 3 * time.Second,
			RefreshPeriod: 100 * time.Millisecond})
		stillHeldAfter(t, sess, 1500*time.Millisecond)
		renewals := f.Calls() - f.Gets() - 1
		// A subscription may signal once as it starts (a backend cannot
		// tell what happened before it listened); beyond that, reads would
		// mean the session's own renewals set it off.
		if f.Gets() > 2 || renewals < 5 {
			t.Fatalf("%d renewals caused %d reads; want about 0", renewals, f.Gets())
		}
	})
}
