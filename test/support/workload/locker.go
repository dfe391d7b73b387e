package workload

import (
	"context"
	"errors"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// Locker is one client's way of taking a lock: Leasehold's
// lockmanager.Hold, or the usual way of using another lock library, so
// that one workload and one checker judge them all.
type Locker interface {
	// Hold takes key for holder, waiting while someone else holds it,
	// until ctx ends. ctx bounds the wait only: once Hold has returned a
	// Lease, the end of ctx does not touch it. A grant that arrives as ctx
	// ends must be given up inside Hold, which then returns an error.
	Hold(ctx context.Context, key, holder string) (Lease, error)
	// Close releases the client's connections.
	Close() error
}

// Lease is one grant as its holder sees it.
type Lease interface {
	// Context ends when the holder must stop believing it holds the lock:
	// when the library says the lease is lost or may be.
	Context() context.Context
	// Token is the grant's fencing token; ok is false when the library
	// hands out none.
	Token() (token uint64, ok bool)
	// Release gives the lease up and returns once every goroutine the
	// lease started (renewals) has ended. An error says the lease had
	// ended before the release (lost, expired, store unreachable), or
	// wraps ErrStuck when its goroutines did not end in time (a bug).
	Release(ctx context.Context) error
}

// leaseholdLocker is Leasehold's Locker: lockmanager.Hold, whose Session
// renews in the background and ends its Context at the lease's safe
// deadline.
type leaseholdLocker struct {
	m   *lockmanager.Manager
	cfg Config
}

// Leasehold returns the Locker that takes leases through m with cfg's
// lease, wait and safety margin. Closing it closes m.
func Leasehold(m *lockmanager.Manager, cfg Config) Locker {
	return &leaseholdLocker{m: m, cfg: cfg.WithDefaults()}
}

// errEnding reports a grant that arrived just as the Hold was being given
// up: its session is already ending, so the client never believes it
// holds the lock.
var errEnding = errors.New("granted as the acquire was given up")

// ErrStuck reports a lease whose goroutines did not end within
// Config.Liveness of its release: a leak, and a failure of the run.
var ErrStuck = errors.New("the lease's goroutines did not end after its release")

func (l *leaseholdLocker) Hold(ctx context.Context, key, holder string) (Lease, error) {
	// The session's parent is a context that only ends when the client
	// releases (end), so that the session is only ever given up by Release
	// or lost: never released on its own when ctx ends, which would free
	// the key before the client's belief is recorded as ended.
	hctx, end := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, end)
	s, err := lockmanager.Hold(hctx, l.m, lockmanager.AcquireOptions{
		Key: key, Holder: holder, LeaseDuration: l.cfg.Lease, Wait: l.cfg.HoldWait,
	}, lockmanager.WithSafetyMargin(l.cfg.SafetyMargin))
	watched := stop()
	if err != nil {
		end()
		return nil, err
	}
	if !watched {
		// ctx ended during the grant: hctx is cancelled, so the session
		// releases itself.
		end()
		waitDone(s.Done(), l.cfg.Liveness)
		return nil, errEnding
	}
	return &leaseholdLease{s: s, end: end, liveness: l.cfg.Liveness}, nil
}

func (l *leaseholdLocker) Close() error { return l.m.Close() }

type leaseholdLease struct {
	s        *lockmanager.Session
	end      context.CancelFunc
	liveness time.Duration
}

func (l *leaseholdLease) Context() context.Context { return l.s.Context() }

func (l *leaseholdLease) Token() (uint64, bool) { return l.s.FencingToken(), true }

func (l *leaseholdLease) Release(ctx context.Context) error {
	err := l.s.Release(ctx)
	done := waitDone(l.s.Done(), l.liveness)
	l.end()
	if !done {
		return ErrStuck
	}
	return err
}

// waitDone waits up to d for done and reports whether it closed.
func waitDone(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
