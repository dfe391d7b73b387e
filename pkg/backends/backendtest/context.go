package backendtest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// ctxKey is the key the context subtests use; errors must name it.
const ctxKey = "ctx:key"

// endedContexts are contexts that ended before the call, and the error
// each must give.
func endedContexts() []struct {
	name string
	ctx  func(t *testing.T) context.Context
	want error
} {
	return []struct {
		name string
		ctx  func(t *testing.T) context.Context
		want error
	}{
		{"Cancelled", func(t *testing.T) context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, context.Canceled},
		{"DeadlinePassed", func(t *testing.T) context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			t.Cleanup(cancel)
			return ctx
		}, context.DeadlineExceeded},
	}
}

// wantCtxErr asserts that err is the context's error, wrapped with the
// key it concerns.
func wantCtxErr(t *testing.T, what string, err, want error, key string) {
	t.Helper()
	if !errors.Is(err, want) || !strings.Contains(err.Error(), strconv.Quote(key)) {
		t.Errorf("%s: got error %v; want %v naming %q", what, err, want, key)
	}
}

// testContext: a call whose context ended before it started returns the
// context's error wrapped with the key, and does nothing: on the Backend
// itself, as every caller of the contract sees it, and through the
// Manager and Hold.
func (s *suite) testContext(t *testing.T) {
	for _, tc := range endedContexts() {
		t.Run("Backend"+tc.name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t)
			m := s.manager(t, ns)
			l := acquire(t, m, ctxKey, "a", lease, nil)
			b := s.h.Open(t, ns)
			t.Cleanup(func() { _ = b.Close() })
			ctx := tc.ctx(t)

			// The holder's own re-acquire would renew: it must not.
			_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: ctxKey, Holder: "a", LeaseDuration: lease})
			wantCtxErr(t, "Acquire", err, tc.want, ctxKey)
			_, err = b.Renew(ctx, &backends.RenewRequest{Key: ctxKey, Holder: "a", Version: l.Version, LeaseDuration: lease})
			wantCtxErr(t, "Renew", err, tc.want, ctxKey)
			err = b.Release(ctx, &backends.ReleaseRequest{Key: ctxKey, Holder: "a", Version: l.Version})
			wantCtxErr(t, "Release", err, tc.want, ctxKey)
			_, err = b.Get(ctx, ctxKey)
			wantCtxErr(t, "Get", err, tc.want, ctxKey)
			_, err = b.List(ctx, &backends.ListRequest{Prefix: ctxKey, Limit: 10})
			wantCtxErr(t, "List", err, tc.want, ctxKey)
			if n, ok := b.(backends.Notifier); ok {
				ch, err := n.Subscribe(ctx, ctxKey)
				wantCtxErr(t, "Subscribe", err, tc.want, ctxKey)
				if ch != nil {
					t.Errorf("Subscribe with an ended context returned a channel")
				}
			}
			if diff := cmp.Diff(l, get(t, m, ctxKey), lockOpts); diff != "" {
				t.Errorf("record changed by calls whose context had ended (-want +got):\n%s", diff)
			}
		})

		t.Run("Manager"+tc.name, func(t *testing.T) {
			t.Parallel()
			m := s.fresh(t)
			l := acquire(t, m, ctxKey, "a", lease, nil)
			ctx := tc.ctx(t)

			for _, wait := range []time.Duration{0, liveness} {
				_, err := m.Acquire(ctx, lockmanager.AcquireOptions{Key: ctxKey, Holder: "a", LeaseDuration: lease, Wait: wait})
				wantCtxErr(t, "Acquire with Wait "+wait.String(), err, tc.want, ctxKey)
				_, err = lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{Key: "ctx:free", Holder: "a", LeaseDuration: lease, Wait: wait})
				wantCtxErr(t, "Hold with Wait "+wait.String(), err, tc.want, "ctx:free")
			}
			_, err := m.Renew(ctx, lockmanager.RenewOptions{Key: ctxKey, Holder: "a", Version: l.Version, LeaseDuration: lease})
			wantCtxErr(t, "Renew", err, tc.want, ctxKey)
			err = m.Release(ctx, lockmanager.ReleaseOptions{Key: ctxKey, Holder: "a", Version: l.Version})
			wantCtxErr(t, "Release", err, tc.want, ctxKey)
			_, err = m.Get(ctx, ctxKey)
			wantCtxErr(t, "Get", err, tc.want, ctxKey)
			_, err = m.List(ctx, lockmanager.ListOptions{Prefix: ctxKey})
			wantCtxErr(t, "List", err, tc.want, ctxKey)
			if diff := cmp.Diff(l, get(t, m, ctxKey), lockOpts); diff != "" {
				t.Errorf("record changed by calls whose context had ended (-want +got):\n%s", diff)
			}
			if _, err := m.Get(ctxFor(t), "ctx:free"); !errors.Is(err, lockmanager.ErrNotFound) {
				t.Errorf("Get of a key only Hold with an ended context asked for: got %v, want ErrNotFound", err)
			}
		})
	}

	// A context that ends while the call is under way: the call may still
	// complete, and if it fails it gives the context's error with the key
	// rather than a bare one or a store failure.
	t.Run("BackendCancelledMidCall", func(t *testing.T) {
		t.Parallel()
		ns := namespace(t)
		m := s.manager(t, ns)
		held := acquire(t, m, ctxKey, "a", lease, nil)
		b := s.h.Open(t, ns)
		t.Cleanup(func() { _ = b.Close() })
		for _, tc := range []struct {
			name, key string
			call      func(ctx context.Context) error
		}{
			{"AcquireHeld", ctxKey, func(ctx context.Context) error {
				_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: ctxKey, Holder: "b", LeaseDuration: lease})
				if errors.Is(err, backends.ErrLockHeld) {
					return nil
				}
				return err
			}},
			{"AcquireFree", ctxKey + ":free", func(ctx context.Context) error {
				_, err := b.Acquire(ctx, &backends.AcquireRequest{Key: ctxKey + ":free", Holder: "b", LeaseDuration: lease})
				return err
			}},
			{"Renew", ctxKey, func(ctx context.Context) error {
				_, err := b.Renew(ctx, &backends.RenewRequest{Key: ctxKey, Holder: "a", Version: held.Version, LeaseDuration: lease})
				return err
			}},
			{"Get", ctxKey, func(ctx context.Context) error {
				_, err := b.Get(ctx, ctxKey)
				return err
			}},
			{"List", ctxKey, func(ctx context.Context) error {
				_, err := b.List(ctx, &backends.ListRequest{Prefix: ctxKey, Limit: 10})
				return err
			}},
			{"Release", ctxKey, func(ctx context.Context) error {
				l, err := b.Get(ctxFor(t), ctxKey)
				if err != nil {
					return err
				}
				return b.Release(ctx, &backends.ReleaseRequest{Key: ctxKey, Holder: "a", Version: l.Version})
			}},
		} {
			ctx := endingAfterCheck()
			if err := tc.call(ctx); err != nil {
				wantCtxErr(t, tc.name, err, context.Canceled, tc.key)
			}
			if ctx.Err() == nil {
				t.Errorf("%s never looked at its context", tc.name)
			}
		}
	})

	t.Run("SessionReleaseCancelled", func(t *testing.T) {
		t.Parallel()
		m := s.fresh(t)
		sess, err := lockmanager.Hold(ctxFor(t), m, lockmanager.AcquireOptions{Key: ctxKey, Holder: "a", LeaseDuration: lease})
		if err != nil {
			t.Fatalf("Hold: %v", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		// Release may find the session ended already (nil) or give up
		// waiting for it; either way it must not be a bare context error.
		if err := sess.Release(ctx); err != nil {
			wantCtxErr(t, "Session.Release", err, context.Canceled, ctxKey)
		}
		<-sess.Done()
		if err := sess.Err(); !errors.Is(err, lockmanager.ErrReleased) {
			t.Errorf("Err after Release = %v, want ErrReleased", err)
		}
	})
}

// endingAfterCheck returns a context that is live for its first Err call
// (a backend's check before it starts) and cancelled from then on, as if
// the caller gave up just after the call began.
func endingAfterCheck() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	return &endsAfterCheck{Context: ctx, cancel: cancel}
}

type endsAfterCheck struct {
	context.Context
	cancel context.CancelFunc
	once   sync.Once
}

func (c *endsAfterCheck) Err() error {
	var err error
	first := false
	c.once.Do(func() {
		first = true
		err = c.Context.Err()
		c.cancel()
	})
	if first {
		return err
	}
	return c.Context.Err()
}
