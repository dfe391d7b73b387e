package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// uncontendedLease is long enough that no lease expires during a window.
// contendedLease is the shortest lease Leasehold accepts: pglock's waiters
// sleep a whole lease between tries, so a longer one would only make
// pglock look worse.
const (
	uncontendedLease = 10 * time.Second
	contendedLease   = time.Second
)

// pairs runs workers goroutines, each taking and releasing its own key as
// fast as it can, and returns acquire+release pairs per second and their
// number.
func pairs(ctx context.Context, l locker, tag string, workers int, d time.Duration) (float64, int64, error) {
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			key, holder := fmt.Sprintf("u-%s-%d", tag, w), fmt.Sprintf("h-%d", w)
			for ctx.Err() == nil {
				h, err := l.acquire(ctx, key, holder, uncontendedLease, false)
				if err == nil {
					err = h.release(context.WithoutCancel(ctx))
				}
				if err != nil {
					if !windowOver(ctx) {
						once.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err); cancel() })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), firstErr
}

// renewals has workers goroutines each hold its own key and renew it as
// fast as it can; it returns renewals per second and their number.
func renewals(ctx context.Context, l locker, tag string, workers int, d time.Duration) (float64, int64, error) {
	hs := make([]held, workers)
	for w := range workers {
		h, err := l.acquire(ctx, fmt.Sprintf("r-%s-%d", tag, w), fmt.Sprintf("h-%d", w), uncontendedLease, false)
		if err != nil {
			return 0, 0, fmt.Errorf("acquiring before renewing: %w", err)
		}
		hs[w] = h
	}
	defer func() {
		for _, h := range hs {
			_ = h.release(context.WithoutCancel(ctx))
		}
	}()
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			for wctx.Err() == nil {
				if err := hs[w].renew(context.WithoutCancel(wctx)); err != nil {
					once.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err); cancel() })
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), firstErr
}

// contention is the outcome of one contended window.
type contention struct {
	perSecond float64
	grants    int
	waits     []time.Duration // release sent -> next holder granted
}

func (c contention) pct(p float64) time.Duration {
	if len(c.waits) == 0 {
		return 0
	}
	w := slices.Clone(c.waits)
	slices.Sort(w)
	return w[min(len(w)-1, int(float64(len(w))*p))]
}

// contended has one goroutine per locker in ls compete for one key, each
// holding it for hold and releasing it. A worker that released stays out until
// another worker has been granted the key (or a second passed), so that
// every wait measured is a hand-off to a worker that was already waiting,
// never the releaser taking the key straight back.
func contended(ctx context.Context, ls []locker, key string, hold, d time.Duration) (contention, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var (
		mu        sync.Mutex
		grants    int
		released  time.Time // when the last release was sent
		lastOwner = -1
		waits     []time.Duration
		changed   = make(chan struct{}) // closed and replaced on every grant
		firstErr  error
	)
	var wg sync.WaitGroup
	start := time.Now()
	for w, l := range ls {
		wg.Go(func() {
			holder := fmt.Sprintf("c-%d", w)
			for ctx.Err() == nil {
				h, err := l.acquire(ctx, key, holder, contendedLease, true)
				if errors.Is(err, errNotObtained) {
					continue
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil && !windowOver(ctx) {
						firstErr = fmt.Errorf("worker %d: %w", w, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				now := time.Now()
				mu.Lock()
				if !released.IsZero() && lastOwner != w && ctx.Err() == nil {
					waits = append(waits, now.Sub(released))
				}
				grants++
				lastOwner = w
				close(changed)
				changed = make(chan struct{})
				mu.Unlock()

				sleep(ctx, hold)
				mu.Lock()
				released = time.Now()
				next := changed
				mu.Unlock()
				if err := h.release(context.WithoutCancel(ctx)); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("worker %d releasing: %w", w, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				select {
				case <-next:
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		})
	}
	wg.Wait()
	return contention{perSecond: float64(grants) / time.Since(start).Seconds(), grants: grants, waits: waits}, firstErr
}

// windowOver reports whether ctx's window has ended: ended, or its
// deadline passed (a driver that sets its socket deadline from ctx's, as
// go-redis with ContextTimeoutEnabled does, may report an i/o timeout a
// moment before ctx itself reports the end).
func windowOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// failoverLease and failoverRefresh are the lease and renewal period of
// every failover measurement.
const (
	failoverLease   = 2 * time.Second
	failoverRefresh = failoverLease / 3
)

// failover takes a key as "a", renews it every failoverRefresh while "b"
// waits for it, then stops renewing without releasing (a crashed holder).
// It returns the time from a's last successful renewal (when it was sent)
// to b's grant.
func failover(ctx context.Context, holderSide, waiterSide locker, key string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	h, err := holderSide.acquire(ctx, key, "holder-a", failoverLease, false)
	if err != nil {
		return 0, fmt.Errorf("holder: %w", err)
	}
	last := time.Now()
	granted := make(chan time.Time, 1)
	go func() {
		wh, err := waiterSide.acquire(ctx, key, "holder-b", failoverLease, true)
		if err != nil {
			close(granted)
			return
		}
		granted <- time.Now()
		_ = wh.release(context.WithoutCancel(ctx))
	}()
	for range 3 {
		sleep(ctx, failoverRefresh)
		sent := time.Now()
		if err := h.renew(ctx); err != nil {
			return 0, fmt.Errorf("holder renewing: %w", err)
		}
		last = sent
	}
	// The crash: no more renewals, no release.
	at, ok := <-granted
	if !ok {
		return 0, errors.New("the waiter was never granted the lock")
	}
	return at.Sub(last), nil
}

// Waiting pairs: what an Acquire that may wait costs when the key is free.
const (
	waitPairsLease   = 30 * time.Second
	waitPairsRefresh = 10 * time.Millisecond
)

// freshLocker opens a client of its own (its own connections, and for
// Leasehold its own Manager), as a separate process would have, and
// returns it with its closer. refresh is Leasehold's RefreshPeriod while
// waiting (0: the default); the others ignore it.
type freshLocker func(ctx context.Context, refresh time.Duration) (locker, func(), error)

// waitPairs is pairs with acquires that may wait (Leasehold: Wait =
// MaxWait, RefreshPeriod 10 ms; the others their waiting strategy), each
// worker on its own key through a client of its own. The keys are always
// free, so any cost beyond pairs' is the wait path's.
func waitPairs(ctx context.Context, fresh freshLocker, tag string, workers int, d time.Duration) (float64, int64, error) {
	ls := make([]locker, workers)
	for w := range workers {
		l, closer, err := fresh(ctx, waitPairsRefresh)
		if err != nil {
			return 0, 0, err
		}
		defer closer()
		ls[w] = l
	}
	var n atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			key, holder := fmt.Sprintf("w-%s-%d", tag, w), fmt.Sprintf("h-%d", w)
			for ctx.Err() == nil {
				h, err := ls[w].acquire(ctx, key, holder, waitPairsLease, true)
				if err == nil {
					err = h.release(context.WithoutCancel(ctx))
				}
				if err != nil {
					if !windowOver(ctx) {
						once.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err); cancel() })
					}
					return
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), n.Load(), firstErr
}

// fairness has workers goroutines loop on one key: acquire (waiting),
// hold it for hold, release, and ask again at once, with nothing keeping a
// releaser out. It returns the busiest worker's share of the grants times
// workers (1 is perfectly fair, workers means one worker took them all),
// and the share of grants that went to the worker that had just released
// (1/workers if the next holder were drawn at random; near 1 when
// releasers barge). Each worker has a client of its own when fresh is not
// nil, otherwise they share l.
func fairness(ctx context.Context, l locker, fresh freshLocker, key string, workers int,
	hold, d time.Duration) (busiest, again float64, err error) {
	ls := make([]locker, workers)
	for w := range workers {
		ls[w] = l
		if fresh != nil {
			fl, closer, err := fresh(ctx, 0)
			if err != nil {
				return 0, 0, err
			}
			defer closer()
			ls[w] = fl
		}
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	grants := make([]int64, workers)
	var (
		mu           sync.Mutex
		last         = -1
		repeats, all int64
	)
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			holder := fmt.Sprintf("f-%d", w)
			for ctx.Err() == nil {
				h, err := ls[w].acquire(ctx, key, holder, contendedLease, true)
				if errors.Is(err, errNotObtained) {
					continue
				}
				if err == nil {
					grants[w]++
					mu.Lock()
					if last == w {
						repeats++
					}
					last = w
					all++
					mu.Unlock()
					sleep(ctx, hold)
					err = h.release(context.WithoutCancel(ctx))
				}
				if err != nil {
					// An acquire cut off by the window's end is not a
					// failure (see windowOver).
					if !windowOver(ctx) {
						once.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err); cancel() })
					}
					return
				}
			}
		})
	}
	wg.Wait()
	total := int64(0)
	for _, g := range grants {
		total += g
	}
	if total == 0 {
		return 0, 0, errors.Join(firstErr, errors.New("no grants"))
	}
	return float64(slices.Max(grants)) / float64(total) * float64(workers), float64(repeats) / float64(all), firstErr
}
