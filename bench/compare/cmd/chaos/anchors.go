package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cirello.io/pglock"
	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/leasehold/leasehold/test/support/workload"
)

// The anchors: the lock libraries people use today, each kept the way its
// README or godoc shows a user would keep a lease and learn of its loss,
// and no safer. None hands out a fencing token, so every Lease's Token
// reports false and the workload writes unfenced (chaos's doc): a write
// from an older grant after a newer one wrote is a stale write accepted.

// errLost says a lease ended before its holder released it.
var errLost = errors.New("the lease ended before its release")

// errEnding reports a grant that arrived as the Hold's context ended: it
// is given up inside Hold, as workload.Locker asks.
var errEnding = errors.New("granted as the acquire was given up")

// refreshed is a lease kept alive by a loop of the caller's own, the
// pattern bsm/redislock and redsync leave to their users: refresh every
// period and stop believing when a refresh fails or says the lock is no
// longer ours. Nothing else ends the belief: neither library gives the
// holder a deadline of its own, so a refresh stuck in a partition keeps
// the lease believed until the Redis client's own timeouts end it.
type refreshed struct {
	ctx      context.Context
	lost     context.CancelCauseFunc
	stop     context.CancelFunc
	done     chan struct{}
	release  func(context.Context) error
	liveness time.Duration
}

func keepRefreshed(period, liveness time.Duration, refresh, release func(context.Context) error) *refreshed {
	lctx, lost := context.WithCancelCause(context.Background())
	loop, stop := context.WithCancel(context.Background())
	r := &refreshed{ctx: lctx, lost: lost, stop: stop, done: make(chan struct{}), release: release, liveness: liveness}
	go func() {
		defer close(r.done)
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-loop.Done():
				return
			case <-t.C:
			}
			if err := refresh(loop); err != nil {
				if loop.Err() == nil {
					lost(err)
				}
				return
			}
		}
	}()
	return r
}

func (r *refreshed) Context() context.Context { return r.ctx }

func (r *refreshed) Token() (uint64, bool) { return 0, false }

// Release stops the refresh loop, waits for it, then releases the lock
// as the libraries' examples do (defer lock.Release).
func (r *refreshed) Release(ctx context.Context) error {
	ended := context.Cause(r.ctx)
	r.stop()
	if !waitClosed(r.done, r.liveness) {
		return workload.ErrStuck
	}
	err := r.release(ctx)
	r.lost(errors.New("released"))
	if ended != nil {
		return fmt.Errorf("%w: %w", errLost, ended)
	}
	return err
}

func waitClosed(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}

// ---- github.com/bsm/redislock ----

// redislockRetry is the retry of redislock's README example
// (ExampleClient_Obtain_retry: LinearBackoff(100ms)); its default is no
// retry at all.
const redislockRetry = 100 * time.Millisecond

// redislockLocker follows redislock's README and examples: Obtain with
// the lease as TTL and a linear-backoff retry bounded by the context, then
// lock.Refresh(ctx, ttl, nil) to extend (here every lease/3, the loop the
// README leaves to the user), lock.Release to give it up. A Refresh that
// fails or returns ErrNotObtained ends the belief.
type redislockLocker struct {
	c      *redislock.Client
	close  func() error
	prefix string // the scenario's namespace: keys are prefix + key
	cfg    workload.Config
}

func (l *redislockLocker) Hold(ctx context.Context, key, _ string) (workload.Lease, error) {
	lock, err := l.c.Obtain(ctx, l.prefix+key, l.cfg.Lease, &redislock.Options{RetryStrategy: redislock.LinearBackoff(redislockRetry)})
	if err != nil {
		return nil, err
	}
	if ctx.Err() != nil {
		_ = lock.Release(context.WithoutCancel(ctx))
		return nil, errEnding
	}
	return keepRefreshed(l.cfg.Lease/3, l.cfg.Liveness,
		func(ctx context.Context) error { return lock.Refresh(ctx, l.cfg.Lease, nil) },
		lock.Release), nil
}

func (l *redislockLocker) Close() error { return l.close() }

// ---- github.com/go-redsync/redsync/v4 ----

// redsyncLocker follows redsync's README: NewMutex per lock with the lease
// as expiry (WithExpiry), LockContext (its default 32 tries 50-250 ms
// apart, called again until the context ends, as its doc says "you may
// retry"), ExtendContext every lease/3 to keep it and UnlockContext to
// release. An Extend that fails or reports false ends the belief. (redsync
// also offers Mutex.Until, the validity its last Extend computed; its
// README does not show it, so it is not used.)
type redsyncLocker struct {
	rs     *redsync.Redsync
	close  func() error
	prefix string
	cfg    workload.Config
}

func (l *redsyncLocker) Hold(ctx context.Context, key, _ string) (workload.Lease, error) {
	m := l.rs.NewMutex(l.prefix+key, redsync.WithExpiry(l.cfg.Lease))
	for {
		err := m.LockContext(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		_, _ = m.UnlockContext(context.WithoutCancel(ctx))
		return nil, errEnding
	}
	return keepRefreshed(l.cfg.Lease/3, l.cfg.Liveness,
		func(ctx context.Context) error {
			ok, err := m.ExtendContext(ctx)
			if err == nil && !ok {
				err = redsync.ErrExtendFailed
			}
			return err
		},
		func(ctx context.Context) error {
			ok, err := m.UnlockContext(ctx)
			if err == nil && !ok {
				err = redsync.ErrLockAlreadyExpired
			}
			return err
		}), nil
}

func (l *redsyncLocker) Close() error { return l.close() }

// ---- cirello.io/pglock ----

// pglockLocker follows pglock's README and godoc: a Client with
// WithLeaseDuration(lease) and WithHeartbeatFrequency(lease/3) (the
// README's example pairs a 3 s lease with a 1 s heartbeat; its doc asks
// for at most half the lease), and Client.Do, which its godoc offers "for
// long-running processes": Do acquires (waiting its own way: try, then
// sleep one lease), runs f with a context that "is going to cancel ...
// when the lock loss is detected in the heartbeat", and releases when f
// returns. The lease's Context is that context.
type pglockLocker struct {
	c     *pglock.Client
	close func() error
	cfg   workload.Config
}

func (l *pglockLocker) Hold(ctx context.Context, key, _ string) (workload.Lease, error) {
	// Do's context bounds the wait and is also the heartbeat's parent, so
	// it must outlive ctx once the lock is granted.
	doCtx, end := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, end)
	granted := make(chan context.Context, 1)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- l.c.Do(doCtx, key, func(lctx context.Context, _ *pglock.Lock) error {
			granted <- lctx
			<-release
			return nil
		})
	}()
	select {
	case lctx := <-granted:
		lease := &pglockLease{ctx: lctx, release: release, done: done, end: end, liveness: l.cfg.Liveness}
		if !stop() {
			_ = lease.Release(context.Background())
			return nil, errEnding
		}
		return lease, nil
	case err := <-done:
		stop()
		end()
		return nil, err
	}
}

func (l *pglockLocker) Close() error { return l.close() }

type pglockLease struct {
	ctx      context.Context
	release  chan struct{}
	done     chan error
	end      context.CancelFunc
	liveness time.Duration
}

func (l *pglockLease) Context() context.Context { return l.ctx }

func (l *pglockLease) Token() (uint64, bool) { return 0, false }

// Release returns from f, so that Do releases the lock (its heartbeat
// stopped first) and returns.
func (l *pglockLease) Release(context.Context) error {
	ended := context.Cause(l.ctx)
	close(l.release)
	defer l.end()
	t := time.NewTimer(l.liveness)
	defer t.Stop()
	select {
	case err := <-l.done:
		if ended != nil {
			return fmt.Errorf("%w: %w", errLost, ended)
		}
		return err
	case <-t.C:
		return workload.ErrStuck
	}
}

// ---- k8s.io/client-go/tools/leaderelection ----

// electionLocker is client-go leader election on a coordination.k8s.io
// Lease per key, one election term per Hold: Run until OnStartedLeading,
// whose context is the lease's (cancelled when a renewal fails for
// RenewDeadline, or when Run's context ends), ReleaseOnCancel so that
// ending the term (Release cancels Run's context) clears the holder. The
// timings keep client-go's defaults' ratio (LeaseDuration 15 s,
// RenewDeadline 10 s, RetryPeriod 2 s) scaled to the lease.
type electionLocker struct {
	cs    kubernetes.Interface
	ns    string
	close func() error
	cfg   workload.Config
}

// electionTimings scales client-go's defaults (15 s / 10 s / 2 s) to lease.
func electionTimings(lease time.Duration) (renewDeadline, retryPeriod time.Duration) {
	return lease * 10 / 15, lease * 2 / 15
}

func (l *electionLocker) Hold(ctx context.Context, key, holder string) (workload.Lease, error) {
	renewDeadline, retryPeriod := electionTimings(l.cfg.Lease)
	runCtx, end := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, end)
	started := make(chan context.Context, 1)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: &resourcelock.LeaseLock{
			LeaseMeta:  metav1.ObjectMeta{Namespace: l.ns, Name: leaseName(key)},
			Client:     l.cs.CoordinationV1(),
			LockConfig: resourcelock.ResourceLockConfig{Identity: holder},
		},
		LeaseDuration:   l.cfg.Lease,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            key,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(lctx context.Context) { started <- lctx },
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		stop()
		end()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.Run(runCtx)
	}()
	select {
	case lctx := <-started:
		lease := &electionLease{ctx: lctx, end: end, done: done, liveness: l.cfg.Liveness}
		if !stop() {
			_ = lease.Release(context.Background())
			return nil, errEnding
		}
		return lease, nil
	case <-done:
		// Run ended without a term that this Hold saw begin: ctx ended
		// while waiting (or the term began and ended at once).
		stop()
		end()
		return nil, errors.New("not elected before the acquire was given up")
	}
}

func (l *electionLocker) Close() error { return l.close() }

type electionLease struct {
	ctx      context.Context
	end      context.CancelFunc
	done     chan struct{}
	liveness time.Duration
}

func (l *electionLease) Context() context.Context { return l.ctx }

func (l *electionLease) Token() (uint64, bool) { return 0, false }

// Release ends the term: Run's context is cancelled, its renew loop
// stops, and ReleaseOnCancel clears the holder before Run returns.
func (l *electionLease) Release(context.Context) error {
	ended := context.Cause(l.ctx)
	l.end()
	if !waitClosed(l.done, l.liveness) {
		return workload.ErrStuck
	}
	if ended != nil {
		return fmt.Errorf("%w: %w", errLost, ended)
	}
	return nil
}
