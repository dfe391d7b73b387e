package backendtest

import (
	"context"
	"testing"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

func (s *suite) testClose(t *testing.T) {
	t.Run("CallsAfterCloseReturnErrClosed", func(t *testing.T) {
		t.Parallel()
		b := s.h.Open(t, namespace(t))
		if err := b.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		ctx := context.Background()
		_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: "k", Holder: "a", LeaseDuration: lease})
		wantErr(t, "Acquire after Close", err, backends.ErrClosed)
		_, err = b.Renew(ctx, &backends.RenewRequest{Key: "k", Holder: "a", Version: "1", LeaseDuration: lease})
		wantErr(t, "Renew after Close", err, backends.ErrClosed)
		wantErr(t, "Release after Close", b.Release(ctx, &backends.ReleaseRequest{Key: "k", Holder: "a", Version: "1"}), backends.ErrClosed)
		_, err = b.Get(ctx, "k")
		wantErr(t, "Get after Close", err, backends.ErrClosed)
		_, err = b.List(ctx, &backends.ListRequest{Limit: 1})
		wantErr(t, "List after Close", err, backends.ErrClosed)

		m := lockmanager.New(s.h.Open(t, namespace(t)))
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		_, err = m.Acquire(ctx, lockmanager.AcquireOptions{Key: "k", Holder: "a", LeaseDuration: lease})
		wantErr(t, "Manager.Acquire after Close", err, lockmanager.ErrClosed)
	})

	t.Run("CloseWakesEveryWaitingAcquire", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		holder := s.manager(t, ns)
		// The holder's lease and the waiters' poll period reach far beyond
		// the test's context: a waiter that Close does not wake sleeps
		// until that context ends, and fails with its error instead of
		// ErrClosed.
		const long = time.Hour
		for _, k := range []string{"k1", "k2"} {
			acquire(t, holder, k, "a", long, nil)
		}
		f := NewFaulty(s.h.Open(t, ns)) // NoFault: counts the tries
		m := lockmanager.New(f)
		t.Cleanup(func() { _ = m.Close() })
		ctx := ctxFor(t)
		opts := func(key, holder string) lockmanager.AcquireOptions {
			return lockmanager.AcquireOptions{Key: key, Holder: holder, LeaseDuration: lease, Wait: lockmanager.WaitForever, PollPeriod: long}
		}
		errs := make(chan error, 5)
		wait := func(key, holder string) {
			go func() {
				_, err := m.Acquire(ctx, opts(key, holder))
				errs <- err
			}()
		}
		wait("k1", "b")
		wait("k2", "b")
		// Both have tried once, so they are waiting (or about to) when
		// Close comes.
		deadline := time.Now().Add(liveness)
		for f.Calls() < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("the waiters made %d tries in %s, want 2", f.Calls(), liveness)
			}
			time.Sleep(time.Millisecond)
		}
		// Queued behind the first waiter of k1.
		wait("k1", "c")
		wait("k1", "d")
		go func() {
			sess, err := lockmanager.Hold(ctx, m, opts("k1", "e"))
			if err == nil {
				_ = sess.Release(ctx)
			}
			errs <- err
		}()

		if err := m.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for range 5 {
			wantErr(t, "waiting Acquire when its Manager was closed", <-errs, lockmanager.ErrClosed)
		}
	})
}
