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

// wait tries to acquire until granted, the wait runs out or ctx ends.
// Between tries it sleeps until the first of: a change notification from
// the backend, the current holder's expiry, or a jittered poll period. It
// never spins: every sleep is at least a fraction of the poll period unless
// a notification arrives.
func (m *Manager) wait(ctx context.Context, req *backends.AcquireRequest, wait, poll time.Duration) (Lock, time.Time, error) {
	deadline := time.Now().Add(wait)

	var notify <-chan struct{}
	if m.notifier != nil {
		subCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		// Subscribe before the first try so that a release between the try
		// and the sleep is not missed. A failed subscription degrades to
		// polling, which is always correct.
		if ch, err := m.notifier.Subscribe(subCtx, req.Key); err == nil {
			notify = ch
		}
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		sent := time.Now()
		l, err := m.backend.Acquire(ctx, req)
		if err == nil {
			return l, sent, nil
		}
		var held *HeldError
		isHeld := errors.As(err, &held)
		if !isHeld && !errors.Is(err, ErrUnavailable) {
			return Lock{}, time.Time{}, err
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			return Lock{}, time.Time{}, err
		}
		sleep := jitter(poll)
		if isHeld {
			// Wake when the holder's lease ends if that is sooner. The expiry
			// comes from the backend's clock, so it is only a hint; the poll
			// period still bounds the sleep.
			if untilExpiry := time.Until(held.ExpiresAt) + expirySlack; untilExpiry > 0 && untilExpiry < sleep {
				sleep = untilExpiry
			}
		}
		sleep = min(sleep, remaining)
		timer.Reset(sleep)
		select {
		case <-ctx.Done():
			return Lock{}, time.Time{}, fmt.Errorf("waiting for lock %q: %w", req.Key, context.Cause(ctx))
		case _, ok := <-notify:
			if !ok {
				notify = nil // subscription ended: poll from now on
			}
		case <-timer.C:
		}
	}
}

// jitter spreads d uniformly over [d/2, 3d/2) so that waiters on one key do
// not poll in lockstep.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d)
}
