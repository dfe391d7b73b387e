package backendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// faultyManager opens a client on ns behind a Faulty wrapper.
func (s *suite) faultyManager(t *testing.T, ns string) (*lockmanager.Manager, *Faulty) {
	t.Helper()
	f := NewFaulty(s.h.Open(t, ns))
	m := lockmanager.New(f)
	t.Cleanup(func() { _ = m.Close() })
	return m, f
}

func hold(t *testing.T, m *lockmanager.Manager, o lockmanager.AcquireOptions) *lockmanager.Session {
	t.Helper()
	sess, err := lockmanager.Hold(context.Background(), m, o)
	if err != nil {
		t.Fatalf("Hold(%q): %v", o.Key, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), liveness)
		defer cancel()
		_ = sess.Release(ctx)
	})
	return sess
}

// stillHeldAfter fails the test if the session's context ends within d.
func stillHeldAfter(t *testing.T, sess *lockmanager.Session, d time.Duration) {
	t.Helper()
	select {
	case <-sess.Context().Done():
		t.Fatalf("session ended early: %v", sess.Err())
	case <-time.After(d):
	}
}

// ended waits for the session's context to end and returns when it did.
func ended(t *testing.T, sess *lockmanager.Session) time.Time {
	t.Helper()
	select {
	case <-sess.Context().Done():
		return time.Now()
	case <-time.After(liveness):
		t.Fatalf("session still alive after %s", liveness)
		return time.Time{}
	}
}

//nolint:gocyclo // a list of independent subtests, whose closures gocyclo adds up
func (s *suite) testSession(t *testing.T) {
	t.Run("RenewalsKeepLeaseForManyPeriods", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: shortLease, RefreshPeriod: 100 * time.Millisecond})
		first := sess.Lock()
		stillHeldAfter(t, sess, 3*shortLease)
		got := get(t, m, "k")
		if !got.Held || got.Holder != "a" || got.FencingToken != first.FencingToken {
			t.Fatalf("after 3 leases the record is %+v; want held by a with token %d", got, first.FencingToken)
		}
		if got.Version == first.Version {
			t.Fatal("the heartbeat never renewed (version unchanged)")
		}
		if sess.FencingToken() != first.FencingToken {
			t.Fatalf("session token changed: %d -> %d", first.FencingToken, sess.FencingToken())
		}
		if err := sess.Release(context.Background()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if !errors.Is(sess.Err(), lockmanager.ErrReleased) {
			t.Fatalf("Err after Release = %v, want ErrReleased", sess.Err())
		}
		if got := get(t, m, "k"); got.Held || got.Holder != "" {
			t.Fatalf("record after Release = %+v, want free", got)
		}
	})

	for _, fault := range []struct {
		name  string
		fault Fault
	}{{"FailingBackend", FailFast}, {"HangingBackend", Hang}} {
		t.Run(fault.name+"EndsContextBeforeLeaseExpiry", func(t *testing.T) {
			t.Parallel()
			m, f := s.faultyManager(t, namespace(t))
			sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: shortLease, RefreshPeriod: 200 * time.Millisecond})
			f.Set(fault.fault)
			// The store's lease ends at the last successful renewal's
			// ExpiresAt; the holder must have stopped before it.
			at := ended(t, sess)
			expires := sess.Lock().ExpiresAt
			if !at.Before(expires) {
				t.Fatalf("context ended at %s, not before the lease's expiry %s", at.Format(time.StampMicro), expires.Format(time.StampMicro))
			}
			if !at.Before(sess.SafeUntil().Add(liveness / 4)) {
				t.Fatalf("context ended at %s, long after the safe deadline %s", at, sess.SafeUntil())
			}
			err := sess.Err()
			if !errors.Is(err, lockmanager.ErrLeaseExpired) || !errors.Is(err, lockmanager.ErrUnavailable) {
				t.Fatalf("Err = %v; want ErrLeaseExpired wrapping ErrUnavailable", err)
			}
			if cause := context.Cause(sess.Context()); !errors.Is(cause, lockmanager.ErrLeaseExpired) {
				t.Fatalf("context cause = %v; want ErrLeaseExpired", cause)
			}
			<-sess.Done()
			f.Set(NoFault)
			if err := sess.Release(context.Background()); !errors.Is(err, lockmanager.ErrLeaseExpired) {
				t.Fatalf("Release after loss = %v; want the loss reason", err)
			}
		})
	}

	t.Run("TransientFailuresWithinDeadlineAreRetried", func(t *testing.T) {
		t.Parallel()
		m, f := s.faultyManager(t, namespace(t))
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: 2 * time.Second,
			RefreshPeriod: 300 * time.Millisecond})
		// Three failed calls cost well under the lease: the session rides
		// them out.
		f.SetNext(FailFast, 3)
		stillHeldAfter(t, sess, 3*time.Second)
		if f.Calls() < 5 {
			t.Fatalf("only %d calls reached the backend", f.Calls())
		}
	})

	t.Run("AmbiguousRenewalIsAdopted", func(t *testing.T) {
		t.Parallel()
		m, f := s.faultyManager(t, namespace(t))
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: shortLease, RefreshPeriod: 200 * time.Millisecond})
		token := sess.FencingToken()
		// The next renewal commits but its reply is lost; the retry then
		// meets a version it does not know.
		f.SetNext(LoseReplies, 1)
		stillHeldAfter(t, sess, 3*shortLease)
		// The session keeps renewing: the record's version is the
		// session's as it was just before the read or just after it.
		before := sess.Lock().Version
		got := get(t, m, "k")
		after := sess.Lock().Version
		if got.Holder != "a" || got.FencingToken != token || (got.Version != before && got.Version != after) {
			t.Fatalf("record %+v, session version %q then %q; want holder a, token %d, the session's version", got, before, after, token)
		}
	})

	t.Run("LostWhenSomeoneElseDeletesTheRecord", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		m := s.manager(t, ns)
		other := s.manager(t, ns)
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: 3 * time.Second, RefreshPeriod: time.Second})
		// An operator (or a bug) releases the lock with the holder's
		// identity: the session must notice at its next renewal.
		for {
			cur := get(t, other, "k")
			err := other.Release(context.Background(), lockmanager.ReleaseOptions{Key: "k", Holder: "a", Version: cur.Version, Delete: true})
			if err == nil {
				break
			}
			if !errors.Is(err, lockmanager.ErrVersionMismatch) {
				t.Fatalf("Release by the operator: %v", err)
			}
		}
		ended(t, sess)
		if err := sess.Err(); !errors.Is(err, lockmanager.ErrLost) || !errors.Is(err, lockmanager.ErrNotFound) {
			t.Fatalf("Err = %v; want ErrLost wrapping ErrNotFound", err)
		}
	})

	t.Run("ReleaseFreesLockForWaiterAtOnce", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		m, waiter := s.manager(t, ns), s.manager(t, ns)
		sess := hold(t, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease})
		type result struct {
			l   lockmanager.Lock
			err error
		}
		done := make(chan result, 1)
		go func() {
			l, err := waiter.Acquire(context.Background(), lockmanager.AcquireOptions{Key: "k", Holder: "b", LeaseDuration: lease, Wait: liveness})
			done <- result{l, err}
		}()
		if err := sess.Release(context.Background()); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if sess.Context().Err() == nil {
			t.Fatal("session context alive after Release")
		}
		r := <-done
		if r.err != nil || r.l.Holder != "b" || r.l.FencingToken <= sess.FencingToken() {
			t.Fatalf("waiter got %+v, %v; want holder b with a higher token", r.l, r.err)
		}
	})

	t.Run("ParentContextEndReleases", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		ctx, cancel := context.WithCancel(context.Background())
		sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease})
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		select {
		case <-sess.Done():
		case <-time.After(liveness):
			t.Fatal("session did not end after its parent context")
		}
		if err := sess.Err(); !errors.Is(err, lockmanager.ErrReleased) || !errors.Is(err, context.Canceled) {
			t.Fatalf("Err = %v; want ErrReleased and context.Canceled", err)
		}
		if got := get(t, m, "k"); got.Holder != "" || got.Held {
			t.Fatalf("record after parent ended = %+v; want released", got)
		}
	})

	t.Run("HoldValidatesSafetyMargin", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		_, err := lockmanager.Hold(context.Background(), m, lockmanager.AcquireOptions{Key: "k", Holder: "a",
			LeaseDuration: time.Second, RefreshPeriod: 950 * time.Millisecond})
		wantErr(t, "Hold with refresh + margin >= lease", err, lockmanager.ErrInvalidArgument)
		if _, err := m.Get(context.Background(), "k"); !errors.Is(err, lockmanager.ErrNotFound) {
			t.Fatalf("an invalid Hold touched the store: %v", err)
		}
	})

	s.testSessionHandOver(t)
	s.testSessionNotified(t)
}
