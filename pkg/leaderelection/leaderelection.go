package leaderelection

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// ErrLeadershipLost is returned by Run when this candidate led and then
// lost the lease: the store refused a renewal (another holder has it), or
// no renewal could be confirmed before the safety deadline, or the Manager
// was closed under it. The error also wraps the session's reason
// (lockmanager.ErrLost, lockmanager.ErrLeaseExpired or
// lockmanager.ErrClosed).
var ErrLeadershipLost = errors.New("leadership lost")

// Run campaigns for leadership until this candidate has led once, then
// returns. It waits for the lock (woken by the backend's change
// notifications where it has them, retrying every RetryPeriod otherwise),
// reporting the leaders it observes to OnNewLeader; once granted, it calls
// OnStartedLeading with a context that is cancelled the moment leadership
// may be lost, renews the lease in the background, and, when that context
// ends, waits for OnStartedLeading to return, releases the lease if it
// still holds it, and calls OnStoppedLeading.
//
// Like client-go's LeaderElector.Run, Run serves one term: a process that
// lost leadership usually holds state it can no longer trust and should
// exit (or call Run again to campaign anew).
//
// Run returns:
//   - an error matching ErrInvalidArgument for a bad Config, before any
//     callback;
//   - an error matching ErrLeadershipLost after a term that ended because
//     the lease was lost;
//   - an error matching ctx's error once ctx ends, whether it ended while
//     waiting (no callback runs) or while leading (the lease is released,
//     as client-go's ReleaseOnCancel does, after OnStartedLeading returned);
//   - any other error that ends the campaign (a closed Manager).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	e := &elector{cfg: cfg, opts: cfg.acquireOptions()}
	e.period = retryPeriod(e.opts)

	// The session's context is a child of the context Hold gets, so Hold
	// must not get ctx itself: when ctx ends during a term, the work must
	// stop before the lease is released, which Run does in that order
	// itself. holdCtx follows ctx only while waiting.
	holdCtx, cancelHold := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHold()
	stopFollowing := context.AfterFunc(ctx, cancelHold)

	sess, err := e.campaign(holdCtx)
	following := stopFollowing()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("campaigning for %q: %w", cfg.Key, context.Cause(ctx))
		}
		return err
	}
	if !following {
		// ctx ended as the grant arrived: holdCtx is cancelled, so the
		// session releases the lease by itself. Do not start leading.
		<-sess.Done()
		return fmt.Errorf("campaigning for %q: %w", cfg.Key, context.Cause(ctx))
	}
	return e.lead(ctx, sess)
}

// elector is the state of one Run.
type elector struct {
	cfg      Config
	opts     lockmanager.AcquireOptions
	period   time.Duration
	reported string // the last identity given to OnNewLeader
}

// report calls OnNewLeader when identity is a leader not yet reported.
func (e *elector) report(identity string) {
	if identity == "" || identity == e.reported {
		return
	}
	e.reported = identity
	if e.cfg.Callbacks.OnNewLeader != nil {
		e.cfg.Callbacks.OnNewLeader(identity)
	}
}

// campaign returns a session holding the lock, or the error that ended the
// campaign (ctx's, when ctx ended).
func (e *elector) campaign(ctx context.Context) (*lockmanager.Session, error) {
	// One attempt first, on this goroutine: it validates the options
	// and takes a free lock without starting anything.
	sess, err := lockmanager.Hold(ctx, e.cfg.Manager, e.opts, e.cfg.sessionOptions()...)
	if err == nil {
		return sess, nil
	}
	if !retryable(err) {
		return nil, err
	}
	var held *lockmanager.HeldError
	if errors.As(err, &held) {
		e.report(held.Holder)
	}

	// Wait for the lock on one goroutine while this one reads who leads
	// every retry period.
	type result struct {
		sess *lockmanager.Session
		err  error
	}
	results := make(chan result, 1)
	go func() {
		s, err := e.wait(ctx)
		results <- result{s, err}
	}()
	obsCtx, stopObserving := context.WithCancel(ctx)
	leaders := make(chan string)
	observed := make(chan struct{})
	go func() {
		defer close(observed)
		e.observe(obsCtx, leaders)
	}()
	defer func() {
		stopObserving()
		<-observed
	}()
	for {
		select {
		case r := <-results:
			return r.sess, r.err
		case leader := <-leaders:
			e.report(leader)
		}
	}
}

// retryable reports whether a failed attempt should be tried again.
func retryable(err error) bool {
	// ErrLeaseExpired from Hold means the grant arrived too late to be
	// safe (and was given back): the store is slow, not wrong.
	return errors.Is(err, lockmanager.ErrLockHeld) || errors.Is(err, lockmanager.ErrUnavailable) || errors.Is(err, lockmanager.ErrLeaseExpired)
}

// wait holds the lock once granted, waiting as long as it takes.
func (e *elector) wait(ctx context.Context) (*lockmanager.Session, error) {
	opts := e.opts
	opts.Wait = lockmanager.MaxWait
	for {
		sess, err := lockmanager.Hold(ctx, e.cfg.Manager, opts, e.cfg.sessionOptions()...)
		if err == nil || !retryable(err) {
			return sess, err
		}
		// The wait itself retries while the store is unavailable; this
		// pause only keeps a store that fails every grant from being hit
		// in a loop.
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(e.period):
		}
	}
}

// observe sends the current leader ("" when none) every retry period until
// ctx ends.
func (e *elector) observe(ctx context.Context, leaders chan<- string) {
	ticker := time.NewTicker(e.period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		// A read that hangs must not outlast its period: the next one
		// will tell.
		getCtx, cancel := context.WithTimeout(ctx, e.period)
		l, err := e.cfg.Manager.Get(getCtx, e.opts.Key)
		cancel()
		if err != nil && !errors.Is(err, lockmanager.ErrNotFound) {
			continue // unknown: report nothing rather than a guess
		}
		leader := ""
		if err == nil && l.Held {
			leader = l.Holder
		}
		select {
		case <-ctx.Done():
			return
		case leaders <- leader:
		}
	}
}

// lead runs one term on sess.
func (e *elector) lead(ctx context.Context, sess *lockmanager.Session) error {
	e.report(e.cfg.Identity)

	leaderCtx, cancel := context.WithCancelCause(context.WithValue(sess.Context(), leaseKey{}, sess))
	defer cancel(nil)
	stopFollowing := context.AfterFunc(ctx, func() { cancel(context.Cause(ctx)) })
	defer stopFollowing()

	worked := make(chan struct{})
	go func() {
		defer close(worked)
		e.cfg.Callbacks.OnStartedLeading(leaderCtx)
	}()
	<-leaderCtx.Done()
	// The lease stays ours, and renewed, until the work has stopped.
	<-worked
	// Release waits for the session to end; the release request has a
	// bounded deadline of its own.
	relErr := sess.Release(context.WithoutCancel(ctx))
	if e.cfg.Callbacks.OnStoppedLeading != nil {
		e.cfg.Callbacks.OnStoppedLeading()
	}
	if errors.Is(sess.Err(), lockmanager.ErrReleased) {
		return fmt.Errorf("leading %q: %w", e.opts.Key, context.Cause(ctx))
	}
	return fmt.Errorf("leading %q: %w: %w", e.opts.Key, ErrLeadershipLost, relErr)
}

type leaseKey struct{}

// Lease returns the current lease of the term whose context ctx is (or
// derives from): the context OnStartedLeading receives. Its FencingToken is
// the term's, strictly greater than every earlier term's: send it with
// every write the leader makes, and have the resource refuse lower ones.
// ok is false for any other context.
func Lease(ctx context.Context) (l lockmanager.Lock, ok bool) {
	sess, ok := ctx.Value(leaseKey{}).(*lockmanager.Session)
	if !ok {
		return lockmanager.Lock{}, false
	}
	return sess.Lock(), true
}
