package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"cirello.io/pglock"
	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// errNotObtained is what every locker returns when the key is held by
// someone else (a try) or stayed held until ctx ended (a wait).
var errNotObtained = errors.New("not obtained")

// locker is the least common shape of the libraries compared: take a
// lock (once, or waiting the library's own way), renew it, release it.
type locker interface {
	acquire(ctx context.Context, key, holder string, lease time.Duration, wait bool) (held, error)
}

// held is one granted lease.
type held interface {
	renew(ctx context.Context) error
	release(ctx context.Context) error
}

// ---- Leasehold ----

// leasehold waits with RefreshPeriod refresh when it is set (the default
// is LeaseDuration / 3).
type leasehold struct {
	m       *lockmanager.Manager
	refresh time.Duration
}

type leaseholdHeld struct {
	m     *lockmanager.Manager
	lock  lockmanager.Lock
	lease time.Duration
}

func (l leasehold) acquire(ctx context.Context, key, holder string, lease time.Duration, wait bool) (held, error) {
	o := lockmanager.AcquireOptions{Key: key, Holder: holder, LeaseDuration: lease}
	if wait {
		// The context bounds the wait; the manager wakes on the backend's
		// notifications and polls every LeaseDuration/3 as a fallback.
		o.Wait = lockmanager.MaxWait
		o.RefreshPeriod = l.refresh
	}
	lk, err := l.m.Acquire(ctx, o)
	if err != nil {
		if errors.Is(err, lockmanager.ErrLockHeld) || ctx.Err() != nil {
			return nil, errNotObtained
		}
		return nil, err
	}
	return &leaseholdHeld{m: l.m, lock: lk, lease: lease}, nil
}

func (h *leaseholdHeld) renew(ctx context.Context) error {
	lk, err := h.m.Renew(ctx, lockmanager.RenewOptions{Key: h.lock.Key, Holder: h.lock.Holder, Version: h.lock.Version,
		LeaseDuration: h.lease})
	if err == nil {
		h.lock = lk
	}
	return err
}

func (h *leaseholdHeld) release(ctx context.Context) error {
	return h.m.Release(ctx, lockmanager.ReleaseOptions{Key: h.lock.Key, Holder: h.lock.Holder, Version: h.lock.Version})
}

// ---- github.com/bsm/redislock ----

// redislockRetry is the retry the library's README shows (LinearBackoff
// 100 ms); its default is no retry at all.
const redislockRetry = 100 * time.Millisecond

type bsmRedislock struct{ c *redislock.Client }

type bsmHeld struct {
	l     *redislock.Lock
	lease time.Duration
}

func (r bsmRedislock) acquire(ctx context.Context, key, _ string, lease time.Duration, wait bool) (held, error) {
	opt := &redislock.Options{}
	if wait {
		opt.RetryStrategy = redislock.LinearBackoff(redislockRetry)
	}
	l, err := r.c.Obtain(ctx, key, lease, opt)
	if err != nil {
		if errors.Is(err, redislock.ErrNotObtained) || ctx.Err() != nil {
			return nil, errNotObtained
		}
		return nil, err
	}
	return &bsmHeld{l: l, lease: lease}, nil
}

func (h *bsmHeld) renew(ctx context.Context) error { return h.l.Refresh(ctx, h.lease, nil) }
func (h *bsmHeld) release(ctx context.Context) error {
	return h.l.Release(ctx)
}

// ---- github.com/go-redsync/redsync/v4 ----

type redsyncLocker struct{ rs *redsync.Redsync }

type redsyncHeld struct{ m *redsync.Mutex }

func (r redsyncLocker) acquire(ctx context.Context, key, _ string, lease time.Duration, wait bool) (held, error) {
	if !wait {
		m := r.rs.NewMutex(key, redsync.WithExpiry(lease), redsync.WithTries(1))
		if err := m.TryLockContext(ctx); err != nil {
			if ctx.Err() != nil || isRedsyncTaken(err) {
				return nil, errNotObtained
			}
			return nil, err
		}
		return &redsyncHeld{m: m}, nil
	}
	// Defaults: 32 tries, 50-250 ms apart at random; a caller that must
	// wait longer calls Lock again.
	m := r.rs.NewMutex(key, redsync.WithExpiry(lease))
	for {
		err := m.LockContext(ctx)
		if err == nil {
			return &redsyncHeld{m: m}, nil
		}
		if ctx.Err() != nil {
			return nil, errNotObtained
		}
		if !isRedsyncTaken(err) {
			return nil, err
		}
	}
}

func isRedsyncTaken(err error) bool {
	var taken *redsync.ErrTaken
	return errors.Is(err, redsync.ErrFailed) || errors.As(err, &taken)
}

func (h *redsyncHeld) renew(ctx context.Context) error {
	ok, err := h.m.ExtendContext(ctx)
	if err == nil && !ok {
		err = errors.New("redsync: extend failed")
	}
	return err
}

func (h *redsyncHeld) release(ctx context.Context) error {
	ok, err := h.m.UnlockContext(ctx)
	if err == nil && !ok {
		err = errors.New("redsync: unlock failed")
	}
	return err
}

// ---- cirello.io/pglock ----

// pglockLocker keeps one pglock.Client per lease duration, since pglock
// sets the lease on the client. Heartbeats are off: the benchmark renews
// explicitly with SendHeartbeat, as pglock's own heartbeat loop does.
type pglockLocker struct {
	db *sql.DB

	mu      sync.Mutex
	clients map[time.Duration]*pglock.Client
}

type pglockHeld struct {
	c *pglock.Client
	l *pglock.Lock
}

func newPglock(db *sql.DB) (*pglockLocker, error) {
	c, err := pglock.New(db, pglock.WithHeartbeatFrequency(0))
	if err != nil {
		return nil, fmt.Errorf("pglock: %w", err)
	}
	if err := c.TryCreateTable(); err != nil {
		return nil, fmt.Errorf("pglock: creating its table: %w", err)
	}
	return &pglockLocker{db: db, clients: map[time.Duration]*pglock.Client{}}, nil
}

func (p *pglockLocker) client(lease time.Duration) (*pglock.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[lease]; ok {
		return c, nil
	}
	c, err := pglock.New(p.db, pglock.WithLeaseDuration(lease), pglock.WithHeartbeatFrequency(0))
	if err != nil {
		return nil, err
	}
	p.clients[lease] = c
	return c, nil
}

func (p *pglockLocker) acquire(ctx context.Context, key, _ string, lease time.Duration, wait bool) (held, error) {
	c, err := p.client(lease)
	if err != nil {
		return nil, err
	}
	var opts []pglock.LockOption
	if !wait {
		opts = append(opts, pglock.FailIfLocked())
	}
	// pglock's only way to wait: try, then sleep a whole lease duration.
	l, err := c.AcquireContext(ctx, key, opts...)
	if err != nil {
		if errors.Is(err, pglock.ErrNotAcquired) || ctx.Err() != nil {
			return nil, errNotObtained
		}
		return nil, err
	}
	return &pglockHeld{c: c, l: l}, nil
}

func (h *pglockHeld) renew(ctx context.Context) error { return h.c.SendHeartbeat(ctx, h.l) }
func (h *pglockHeld) release(ctx context.Context) error {
	return h.c.ReleaseContext(ctx, h.l)
}

// ---- client-go resourcelock.LeaseLock used as a lock ----

// leaseRetry is how often a waiter polls a Lease: client-go's leader
// election polls every RetryPeriod (2 s with a 15 s lease in
// kube-controller-manager); 500 ms is that ratio for the short leases here,
// rounded up.
const leaseRetry = 500 * time.Millisecond

type leaseLocker struct {
	cs kubernetes.Interface
	ns string
}

type leaseHeld struct {
	ll  *resourcelock.LeaseLock
	rec resourcelock.LeaderElectionRecord
}

func (k leaseLocker) acquire(ctx context.Context, key, holder string, lease time.Duration, wait bool) (held, error) {
	ll := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: k.ns, Name: key},
		Client:     k.cs.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: holder},
	}
	for {
		h, err := k.try(ctx, ll, holder, lease)
		if err == nil || !errors.Is(err, errNotObtained) || !wait {
			return h, err
		}
		// wait.JitterUntil's jitter in leader election: up to +20%.
		t := time.NewTimer(leaseRetry + time.Duration(rand.Int64N(int64(leaseRetry/5))))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errNotObtained
		case <-t.C:
		}
	}
}

// try is leader election's tryAcquireOrRenew for a lock: Get, then Create
// when absent or Update when free or expired.
func (k leaseLocker) try(ctx context.Context, ll *resourcelock.LeaseLock, holder string, lease time.Duration) (held, error) {
	now := metav1.NewTime(time.Now())
	rec := resourcelock.LeaderElectionRecord{
		HolderIdentity: holder, LeaseDurationSeconds: int(lease / time.Second), AcquireTime: now, RenewTime: now,
	}
	old, _, err := ll.Get(ctx)
	switch {
	case apierrors.IsNotFound(err):
		if err := ll.Create(ctx, rec); err != nil {
			if apierrors.IsAlreadyExists(err) || ctx.Err() != nil {
				return nil, errNotObtained
			}
			return nil, err
		}
		return &leaseHeld{ll: ll, rec: rec}, nil
	case err != nil:
		if ctx.Err() != nil {
			return nil, errNotObtained
		}
		return nil, err
	}
	expired := old.RenewTime.Add(time.Duration(old.LeaseDurationSeconds) * time.Second).Before(now.Time)
	if old.HolderIdentity != "" && old.HolderIdentity != holder && !expired {
		return nil, errNotObtained
	}
	rec.LeaderTransitions = old.LeaderTransitions + 1
	if err := ll.Update(ctx, rec); err != nil {
		if apierrors.IsConflict(err) || ctx.Err() != nil {
			return nil, errNotObtained
		}
		return nil, err
	}
	return &leaseHeld{ll: ll, rec: rec}, nil
}

func (h *leaseHeld) renew(ctx context.Context) error {
	h.rec.RenewTime = metav1.NewTime(time.Now())
	return h.ll.Update(ctx, h.rec)
}

// release is leader election's release: clear the holder, keep the count.
func (h *leaseHeld) release(ctx context.Context) error {
	now := metav1.NewTime(time.Now())
	return h.ll.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions: h.rec.LeaderTransitions, LeaseDurationSeconds: 1, RenewTime: now, AcquireTime: now,
	})
}

var (
	_ locker = leasehold{}
	_ locker = bsmRedislock{}
	_ locker = redsyncLocker{}
	_ locker = (*pglockLocker)(nil)
	_ locker = leaseLocker{}
)
