package lockmanager

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// expirySlack is added to a holder's reported expiry before a waiter tries
// again, so that the retry lands just after the lease ends rather than
// just before it.
const expirySlack = 5 * time.Millisecond

// wakeSpread bounds the random delay between a waiter's wake on a change
// notification and its try. Every Manager subscribed to a key hears a
// release in the same order (Redis delivers a PUBLISH to its subscribers
// in the order they subscribed, fixed for as long as a lingering
// subscription lives), and the first try to reach the store wins; without
// the delay the same Managers would win every hand-off. Each woken waiter
// therefore waits a random time, uniform over [0, wakeSpread), so that
// Managers woken by one release race in a random order. The bound is
// larger than the spread of one notification's deliveries on a local
// network and small next to a contended lock's hold times; it adds half
// of it to a hand-off on average.
const wakeSpread = time.Millisecond

// wakeTries and maxWakeWindow shape the wider window of waiters on a
// backend that refuses watched tries (see waiters.wakeWindow).
const (
	wakeTries     = 3
	maxWakeWindow = 250 * time.Millisecond
)

// wait tries to acquire until granted, the wait runs out, ctx ends or the
// Manager is closed (which wakes every waiter at once with ErrClosed).
//
// A free key costs one try: the waiter subscribes to the backend's change
// notifications only once a try found the key held (or the store
// unavailable), and tries once more when the subscription went live after
// its last try, so that a release in between is not missed. The
// subscription is shared by the Manager's waiters on the key and lingers
// after the last one (see waiters).
//
// Between tries it sleeps until the first of: its turn (a notification
// wakes the longest waiting waiter of this Manager only), the current
// holder's expiry, or a jittered poll period, which every waiter keeps as
// the safety net. It never spins: every sleep is at least a fraction of the
// poll period unless a notification arrives.
//
// The wait is reported to the Observer (LeaseObserver) from the first
// sleep to the return: a grant on the first try waited for nothing.
func (m *Manager) wait(ctx context.Context, req *backends.AcquireRequest, wait, poll time.Duration) (_ Lock, _ time.Time, waitErr error) {
	var waitingSince time.Time // zero until the first sleep
	defer func() {
		if !waitingSince.IsZero() {
			m.lease.ObserveWaitEnd(m.store, Outcome(waitErr), time.Since(waitingSince))
		}
	}()
	deadline := time.Now().Add(wait)
	if wait == WaitForever {
		deadline = time.Now().Add(100 * 365 * 24 * time.Hour) // the context ends it
	}
	kw, w, tryNow, heard := m.waiters.join(req.Key)
	// owed says a wake was taken and not answered by a decided try; a
	// waiter that leaves without a grant passes it on.
	granted, owed := false, false
	defer func() { m.waiters.leave(kw, w, granted, owed) }()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var (
		ready <-chan struct{} // the Subscribe under way, when it started after our last try
		err   error
		sleep = jitter(poll) // a newcomer behind others of this Manager waits for its turn
	)
	if tryNow && !heard.IsZero() {
		// Joined just after a notification (this Manager's own release
		// heard back, typically): try at a random instant within
		// wakeSpread of it, as the waiters it woke elsewhere do, rather
		// than ahead of them.
		if err := m.pause(ctx, req.Key, time.Until(heard.Add(rand.N(m.waiters.wakeWindow(kw))))); err != nil {
			return Lock{}, time.Time{}, err
		}
	}
	for {
		if !tryNow {
			if waitingSince.IsZero() {
				waitingSince = time.Now()
				m.lease.ObserveWaitStart(m.store)
			}
			var woken bool
			ready, woken, err = m.sleepUntilTry(ctx, req.Key, kw, w, timer, min(sleep, max(time.Until(deadline), 0)), ready)
			owed = owed || woken
			if err != nil {
				return Lock{}, time.Time{}, err
			}
		}
		liveAtSend := m.waiters.live(kw)
		try := *req
		// Under a live subscription the backend may refuse from what the
		// subscription delivered (backends.WatchRefuser), except on the
		// last try, whose answer the caller gets: the store's.
		try.Watched = liveAtSend && time.Until(deadline) > 0
		sent := time.Now()
		var l Lock
		l, err = m.backend.Acquire(ctx, &try)
		if err == nil {
			m.waiters.answered(time.Since(sent))
			m.waiters.granted(kw, req.Holder, true)
			granted = true
			return l, sent, nil
		}
		var held *HeldError
		if ctx.Err() != nil {
			// The context ended while the try was under way: the backend's
			// error carries ctx.Err() but not the cause the canceller gave.
			return Lock{}, time.Time{}, waitEnded(ctx, req.Key)
		}
		isHeld := errors.As(err, &held)
		if !isHeld && !errors.Is(err, ErrUnavailable) {
			return Lock{}, time.Time{}, err
		}
		if isHeld {
			owed = false // the wake is answered: someone has the key
			m.waiters.granted(kw, held.Holder, false)
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return Lock{}, time.Time{}, err
		}
		live, pending := m.waiters.subscribe(kw)
		if live && !liveAtSend && m.waiters.isHead(kw, w) {
			// Went live while the try was under way; as above, the head
			// checks for all.
			tryNow = true
			continue
		}
		if pending != nil {
			ready = pending
		}
		tryNow = false
		sleep = jitter(poll)
		if isHeld {
			// Wake when the holder's lease ends if that is sooner. The expiry
			// comes from the backend's clock, so it is only a hint; the poll
			// period still bounds the sleep.
			if untilExpiry := time.Until(held.ExpiresAt) + expirySlack; untilExpiry > 0 && untilExpiry < sleep {
				sleep = untilExpiry
			}
		}
	}
}

// sleepUntilTry sleeps waiter w on key (kw) until its next try: until
// timer, reset to d, fires; until w is woken (woken reports the wake, which
// the next try answers); or until ready, the subscription started after
// w's last try, goes live while w heads the queue. It returns ready as it
// then stands (nil once it fired), and the reason instead if ctx ends or
// the Manager is closed first.
func (m *Manager) sleepUntilTry(ctx context.Context, key string, kw *keyWaiters, w *waiter, timer *time.Timer, d time.Duration,
	ready <-chan struct{}) (_ <-chan struct{}, woken bool, _ error) {
	timer.Reset(d)
	for {
		select {
		case <-ctx.Done():
			return ready, false, waitEnded(ctx, key)
		case <-m.waiters.closing():
			return ready, false, waitClosed(key)
		case <-w.wake:
			if err := m.pause(ctx, key, rand.N(m.waiters.wakeWindow(kw))); err != nil {
				return ready, true, err
			}
			timer.Stop()
			return ready, true, nil
		case <-ready:
			// Subscribed after the last try: a release in between sent no
			// signal. The head of the queue checks for all.
			ready = nil
			if m.waiters.live(kw) && m.waiters.isHead(kw, w) {
				timer.Stop()
				return ready, false, nil
			}
		case <-timer.C:
			m.waiters.unyield(kw)
			timer.Stop()
			return ready, false, nil
		}
	}
}

// pause sleeps a waiter on key for d. It returns early with the reason if
// ctx ends or the Manager is closed first.
func (m *Manager) pause(ctx context.Context, key string, d time.Duration) error {
	if ctx.Err() != nil {
		return waitEnded(ctx, key)
	}
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return waitEnded(ctx, key)
	case <-m.waiters.closing():
		return waitClosed(key)
	case <-t.C:
		return nil
	}
}

// waitEnded is a waiter's error once ctx has ended: ctx's error, so that
// errors.Is finds context.Canceled or context.DeadlineExceeded, and the
// cause the canceller gave, if it gave one.
func waitEnded(ctx context.Context, key string) error {
	// Cause returns ctx.Err() itself when the canceller gave no cause; a
	// cause that merely wraps it is still worth reporting.
	if cause := context.Cause(ctx); cause != ctx.Err() { //nolint:errorlint // identity, not errors.Is
		return fmt.Errorf("waiting for lock %q: %w: %w", key, ctx.Err(), cause)
	}
	return fmt.Errorf("waiting for lock %q: %w", key, ctx.Err())
}

// waitClosed is a waiter's error once the Manager has been closed.
func waitClosed(key string) error {
	return fmt.Errorf("waiting for lock %q: %w", key, ErrClosed)
}

// jitter spreads d uniformly over [d/2, 3d/2) so that waiters on one key do
// not poll in lockstep.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}
