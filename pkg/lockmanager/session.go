package lockmanager

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Session holds a lease and renews it in the background (the heartbeat).
//
// Work that must only run while this process holds the lock watches
// Context(): it is cancelled the moment the lease may be lost, which is
// never later than the holder-side safe deadline: the send time of the
// last successful acquire or renew, on this process's monotonic clock,
// plus the lease duration, minus the safety margin. What the store says
// later cannot extend that deadline, so a slow or partitioned store can
// only make the session end early, never late.
//
// A renewal that fails with ErrUnavailable is retried until the safe
// deadline; each attempt is itself bounded by that deadline. A renewal
// answered with ErrVersionMismatch may mean that an earlier attempt
// committed but its reply was lost: the session reads the record, and if
// the holder and fencing token are still its own it adopts the new version
// and renews again at once; any other record ends the session with ErrLost,
// and a failed read is retried like a failed renewal.
//
// Where the backend sends change notifications (backends.Notifier), the
// session also ends as soon as the store tells it the record was released,
// deleted or taken over by someone else, instead of at the next renewal.
// A signal only prompts a read of the record: it never extends anything.
//
// Giving the lease up (Release, or the parent context ending) cuts a
// renewal in flight short rather than wait for it; the release then
// resolves the version itself (see releaseLease), so the next holder is
// granted at once whatever the renewal did.
type Session struct {
	m      *Manager
	opts   AcquireOptions
	margin time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc
	// run is ctx, also cancelled by Release: every request the heartbeat
	// and the watcher make is bounded by it.
	run     context.Context
	stopRun context.CancelFunc

	mu       sync.Mutex
	lock     Lock
	safeTill time.Time   // holder-side deadline, monotonic
	expiry   *time.Timer // cancels ctx at safeTill
	err      error       // why the session ended; nil while alive
	lastErr  error       // the last failed renewal's error, for the expiry reason
	pending  bool        // a renewal was sent and has not succeeded yet

	watching chan struct{} // closed when the watcher has exited; nil without one
	done     chan struct{} // closed when the heartbeat has exited
}

// SessionOption configures Hold.
type SessionOption func(*sessionConfig)

type sessionConfig struct {
	margin time.Duration
}

// WithSafetyMargin sets how long before the lease's end, as this process
// counts it, the session gives the lease up as possibly lost. It covers
// clock-rate drift between this process and the store, and the time work
// needs to notice the cancellation. The default is LeaseDuration / 10.
// RefreshPeriod + margin must be less than LeaseDuration.
func WithSafetyMargin(d time.Duration) SessionOption {
	return func(c *sessionConfig) { c.margin = d }
}

// Hold acquires the lock as o says (waiting up to o.Wait) and starts the
// heartbeat, which renews every o.RefreshPeriod. The session ends, and its
// Context is cancelled, when the lease may be lost, when the store reports
// it taken (see Session), when Release is called, or when ctx ends (the
// lease is then released).
//
// Release, and ctx ending, cancel Context and then give the lease up at
// once: the next holder may be granted a moment later. Work running on
// other goroutines must therefore have stopped before Release is called (or
// before ctx is cancelled); wait for it first, as the background-scheduler
// example does. Only a lost or expired lease leaves the lease to run out by
// itself, and Context then ends at least the safety margin before it does.
//
// A grant whose reply arrives after its safe deadline (a slow store: the
// first acquire of a key on Kubernetes is two or more writes) is renewed
// once at once; Hold fails with ErrLeaseExpired only if that renewal is not
// confirmed before its own safe deadline either.
//
// When o.HolderPod is nil, Hold binds the grant to the Pod the process runs
// in if the environment names it (PodFromEnv), so that on Kubernetes the
// lock is freed as soon as that Pod is gone.
func Hold(ctx context.Context, m *Manager, o AcquireOptions, opts ...SessionOption) (*Session, error) {
	cfg := sessionConfig{margin: -1}
	for _, opt := range opts {
		opt(&cfg)
	}
	if o.HolderPod == nil {
		pod, err := PodFromEnv()
		if err != nil {
			return nil, err
		}
		o.HolderPod = pod
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.RefreshPeriod = o.refreshPeriod()
	if cfg.margin < 0 {
		cfg.margin = o.LeaseDuration / 10
	}
	if o.RefreshPeriod+cfg.margin >= o.LeaseDuration {
		return nil, backends.InvalidArgument("SafetyMargin", "RefreshPeriod (%s) + safety margin (%s) must be less than LeaseDuration (%s)",
			o.RefreshPeriod, cfg.margin, o.LeaseDuration)
	}

	start := time.Now()
	l, sent, err := m.acquire(ctx, &o)
	m.observer.ObserveOperation(OpAcquire, Outcome(err), time.Since(start))
	if err != nil {
		return nil, err
	}
	safe := o.LeaseDuration - cfg.margin
	if time.Until(sent.Add(safe)) <= 0 {
		if l, sent, err = confirmLate(ctx, m, &o, safe, l); err != nil {
			return nil, err
		}
	}
	s := &Session{
		m:        m,
		opts:     o,
		margin:   cfg.margin,
		lock:     l,
		safeTill: sent.Add(safe),
		done:     make(chan struct{}),
	}
	// The session's context is not derived from ctx's cancellation alone:
	// it must also end at the safe deadline, which moves with each renewal.
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	s.run, s.stopRun = context.WithCancel(s.ctx)
	s.mu.Lock()
	s.expiry = time.AfterFunc(max(time.Until(s.safeTill), 0), s.checkDeadline)
	s.mu.Unlock()
	if m.waiters.notifier != nil {
		s.watching = make(chan struct{})
		subscribed := make(chan struct{})
		go s.watch(subscribed)
		// Wait for the subscription, so that a change right after Hold
		// returns is not missed, but never longer than a refresh period:
		// a slow subscription only delays noticing, renewals go on.
		timer := time.NewTimer(o.RefreshPeriod)
		select {
		case <-subscribed:
		case <-timer.C:
		}
		timer.Stop()
	}
	go s.heartbeat(sent)
	return s, nil
}

// confirmLate handles a grant whose reply came after its safe deadline.
// The lease was counted from the send time of the whole acquire, so it may
// well still be live at the store: one renewal, counted from its own send
// time, confirms it (a renewal succeeds only while the store still has the
// lease, unexpired, under the same token, so nobody else can have held the
// lock meanwhile). The lease is never reported held in between: Hold has
// not returned. If the renewal fails, the grant is given back.
func confirmLate(ctx context.Context, m *Manager, o *AcquireOptions, safe time.Duration, l Lock) (Lock, time.Time, error) {
	sent := time.Now()
	rctx, cancel := context.WithDeadline(ctx, sent.Add(safe))
	renewed, err := m.Renew(rctx, RenewOptions{Key: o.Key, Holder: o.Holder, Version: l.Version, LeaseDuration: o.LeaseDuration})
	cancel()
	if err == nil && time.Until(sent.Add(safe)) > 0 {
		return renewed, sent, nil
	}
	if err == nil {
		l, err = renewed, errors.New("the renewal confirming it arrived late too")
	}
	// Give the grant back rather than leave it to expire.
	rctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), min(releaseTimeout, o.LeaseDuration))
	defer cancel()
	_ = releaseLease(rctx, m, o.Holder, l)
	return Lock{}, time.Time{}, fmt.Errorf("holding %q: %w: the grant arrived after its safe deadline: %w", o.Key, ErrLeaseExpired, err)
}

// Context is cancelled the moment the lease may be lost or the session
// ends; context.Cause returns the reason, as Err does.
func (s *Session) Context() context.Context { return s.ctx }

// Done is closed once the session has fully ended: heartbeat stopped and,
// where it ended by Release or its parent context, the lease released.
// Context() is cancelled before that, as early as possible.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns nil while the session holds the lease, then why it ended:
// ErrReleased, ErrLost (wrapping the store's answer), ErrLeaseExpired
// (renewals could not be confirmed before the safe deadline, wrapping the
// last error, typically ErrUnavailable), or the parent context's cause.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Lock returns the latest record this session was granted or renewed.
func (s *Session) Lock() Lock {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lock.Clone()
}

// FencingToken returns the grant's fencing token. Send it with every write
// to the protected resource.
func (s *Session) FencingToken() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lock.FencingToken
}

// SafeUntil returns the holder-side safe deadline of the current lease.
func (s *Session) SafeUntil() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.safeTill
}

// Release stops the heartbeat, releases the lease and waits until the
// session has ended. A renewal in flight is cut short, not waited for: a
// store that stopped answering must not delay the hand-over, and the
// release resolves the version whatever the renewal did. It returns nil
// when the lease was released (now or by an earlier Release); if the
// session had already ended for another reason, it returns that reason.
func (s *Session) Release(ctx context.Context) error {
	s.stopRun()
	select {
	case <-s.done:
	case <-ctx.Done():
		return fmt.Errorf("releasing %q: %w", s.opts.Key, ctx.Err())
	}
	if err := s.Err(); !errors.Is(err, ErrReleased) {
		return err
	}
	return nil
}

// end records why the session ended (first reason wins) and cancels its
// context.
func (s *Session) end(err error) {
	s.mu.Lock()
	first := s.err == nil
	if first {
		s.err = err
		if s.expiry != nil {
			s.expiry.Stop()
		}
	}
	s.mu.Unlock()
	if first {
		s.cancel(err)
	}
}

// checkDeadline runs when the expiry timer fires. A renewal may have moved
// the deadline just as the timer fired, so check it again.
func (s *Session) checkDeadline() {
	s.mu.Lock()
	remaining := time.Until(s.safeTill)
	if s.err == nil && remaining > 0 {
		s.expiry.Reset(remaining)
		s.mu.Unlock()
		return
	}
	lastErr := s.lastErr
	if lastErr == nil && s.pending {
		lastErr = fmt.Errorf("%w: the renewal in flight was not answered", ErrUnavailable)
	}
	s.mu.Unlock()
	if lastErr != nil {
		s.end(fmt.Errorf("holding %q: %w: no renewal confirmed before the safe deadline: %w", s.opts.Key, ErrLeaseExpired, lastErr))
		return
	}
	s.end(fmt.Errorf("holding %q: %w: no renewal confirmed before the safe deadline", s.opts.Key, ErrLeaseExpired))
}

// heartbeat renews every refresh period, counted from the send time of the
// last successful request, until the session ends.
func (s *Session) heartbeat(lastSent time.Time) {
	timer := time.NewTimer(time.Until(lastSent.Add(s.opts.RefreshPeriod)))
	defer timer.Stop()
loop:
	for {
		select {
		case <-s.run.Done():
			break loop
		case <-timer.C:
			sent, ok := s.renew()
			if !ok {
				break loop
			}
			lastSent = sent
			timer.Reset(time.Until(lastSent.Add(s.opts.RefreshPeriod)))
		}
	}
	// No reason recorded means Release was called or the parent context
	// ended: the lease is still ours to give up.
	s.finish(s.Err() == nil)
}

// renew renews until it succeeds, the lease is lost, the safe deadline
// passes or the session is stopped. It returns the send time of the
// successful request.
func (s *Session) renew() (time.Time, bool) {
	backoff := max(s.opts.RefreshPeriod/8, MinRefreshPeriod)
	for {
		s.mu.Lock()
		cur, deadline := s.lock, s.safeTill
		s.pending = true
		s.mu.Unlock()

		// No request may outlive the lease it is trying to keep. Release
		// cuts it short too: the release resolves whatever it did.
		reqCtx, cancel := context.WithDeadline(s.run, deadline)
		sent := time.Now()
		l, err := s.m.Renew(reqCtx, RenewOptions{
			Key: cur.Key, Holder: s.opts.Holder, Version: cur.Version,
			LeaseDuration: s.opts.LeaseDuration,
		})
		cancel()
		switch {
		case err == nil:
			if !s.extend(l, sent) {
				return time.Time{}, false
			}
			return sent, true
		case errors.Is(err, ErrVersionMismatch):
			// Possibly our own earlier renewal committed without a reply.
			switch adopted, readErr := s.adopt(cur); {
			case adopted:
				continue
			case readErr == nil:
				s.end(fmt.Errorf("renewing %q: %w: %w", cur.Key, ErrLost, err))
				return time.Time{}, false
			case s.run.Err() != nil:
				// Stopped while resolving: finish releases, and resolves the
				// version itself.
				return time.Time{}, false
			default:
				// The read failed: still unresolved, retry like any
				// transient failure.
				err = readErr
			}
		case errors.Is(err, ErrNotHolder), errors.Is(err, ErrNotFound), errors.Is(err, ErrLeaseExpired), errors.Is(err, ErrLockHeld):
			s.end(fmt.Errorf("renewing %q: %w: %w", cur.Key, ErrLost, err))
			return time.Time{}, false
		case errors.Is(err, ErrClosed):
			s.end(fmt.Errorf("renewing %q: %w", cur.Key, err))
			return time.Time{}, false
		}
		if s.run.Err() != nil {
			// Stopped, or the session ended: not the store's failure.
			return time.Time{}, false
		}
		// Transient (unavailable, or the request hit the safe deadline).
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			// Our own per-request deadline, not the caller's: the store did
			// not answer in time.
			err = fmt.Errorf("%w: renewing %q: no answer before the safe deadline: %w", ErrUnavailable, cur.Key, err)
		}
		s.mu.Lock()
		s.lastErr = err
		s.mu.Unlock()
		wait := min(jitter(backoff), time.Until(deadline))
		if wait <= 0 {
			s.end(fmt.Errorf("holding %q: %w: %w", cur.Key, ErrLeaseExpired, err))
			return time.Time{}, false
		}
		timer := time.NewTimer(wait)
		select {
		case <-s.run.Done():
			timer.Stop()
			return time.Time{}, false
		case <-timer.C:
		}
		backoff = min(backoff*2, s.opts.RefreshPeriod)
	}
}

// extend records a successful renewal sent at sent. It fails if the session
// already ended (the safe deadline passed while the reply was in flight);
// the record is kept even then, so that Lock reports what the store has.
// It reports the time that was left on the lease to the Observer.
func (s *Session) extend(l Lock, sent time.Time) bool {
	s.mu.Lock()
	s.lock = l
	if s.err != nil {
		s.mu.Unlock()
		return false
	}
	// The lease as the holder counts it ends a margin after the safe
	// deadline.
	remaining := time.Until(s.safeTill.Add(s.margin))
	s.pending, s.lastErr = false, nil
	s.safeTill = sent.Add(s.opts.LeaseDuration - s.margin)
	s.expiry.Reset(time.Until(s.safeTill))
	s.mu.Unlock()
	s.m.lease.ObserveRenewal(s.m.store, remaining)
	return true
}

// adopt resolves an ambiguous renewal: if the record still names this
// session's holder and fencing token, it takes the record's version (the
// safe deadline is not extended, since the send time of the write that
// produced it is unknown; the next renewal extends it). A non-nil error
// means the record could not be read, which decides nothing.
func (s *Session) adopt(cur Lock) (bool, error) {
	reqCtx, cancel := context.WithDeadline(s.run, s.SafeUntil())
	defer cancel()
	got, err := s.m.Get(reqCtx, cur.Key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !got.Held || got.Holder != s.opts.Holder || got.FencingToken != cur.FencingToken {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return false, nil
	}
	s.lock = got
	return true, nil
}

// releaseTimeout bounds the release that ends a session: the parent context
// may be gone, and the release still deserves attempts of its own.
const releaseTimeout = 5 * time.Second

// finish ends the heartbeat: when asked to release (Release, or the parent
// context ended) it first cancels the session's context, so that work stops
// before the lease is given up, then releases; finally it waits for the
// watcher and closes done.
func (s *Session) finish(release bool) {
	defer close(s.done)
	if release {
		reason := fmt.Errorf("holding %q: %w", s.opts.Key, ErrReleased)
		if s.ctx.Err() != nil {
			reason = fmt.Errorf("%w: %w", reason, context.Cause(s.ctx))
		}
		s.end(reason)
		ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), min(releaseTimeout, s.opts.LeaseDuration))
		err := releaseLease(ctx, s.m, s.opts.Holder, s.Lock())
		cancel()
		if err != nil && !errors.Is(err, ErrNotHolder) && !errors.Is(err, ErrNotFound) {
			s.mu.Lock()
			s.err = fmt.Errorf("%w (release failed, so the lease ends by expiry: %w)", reason, err)
			s.mu.Unlock()
		}
	}
	s.stopRun()
	if s.watching != nil {
		<-s.watching
	}
	err := s.Err()
	s.m.observer.ObserveSessionEnd(Outcome(err))
	if cause := LossCause(err); cause != "" {
		s.m.lease.ObserveSessionLost(s.m.store, cause)
	}
}

// maxReleaseAttempts bounds releaseLease's tries.
const maxReleaseAttempts = 4

// releaseLease releases the grant l, whose version may be out of date: a
// renewal cut short by the release, or whose reply was lost, may have
// committed. ErrVersionMismatch is therefore resolved by reading the
// record: while it still names l's holder and fencing token it is still
// this grant, and is released under the version read; otherwise the grant
// is gone already (ErrNotHolder). ErrUnavailable is retried, since a repeat
// of a release that committed only answers ErrNotHolder or ErrNotFound.
func releaseLease(ctx context.Context, m *Manager, holder string, l Lock) error {
	version := l.Version
	backoff := 20 * time.Millisecond
	var err error
	for range maxReleaseAttempts {
		err = m.Release(ctx, ReleaseOptions{Key: l.Key, Holder: holder, Version: version})
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrVersionMismatch):
			got, gerr := m.Get(ctx, l.Key)
			switch {
			case errors.Is(gerr, ErrNotFound):
				return gerr
			case gerr != nil:
				err = gerr
			case got.Holder != holder || got.FencingToken != l.FencingToken:
				return fmt.Errorf("releasing %q: %w: the grant was taken over", l.Key, ErrNotHolder)
			default:
				version = got.Version
				continue
			}
		case !errors.Is(err, ErrUnavailable):
			return err
		}
		timer := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			timer.Stop()
			return err
		case <-timer.C:
		}
		backoff *= 2
	}
	return err
}

// watch ends the session as soon as the store reports the record released,
// deleted or taken over, rather than at the next renewal. A signal only
// says that something may have changed (signals coalesce, spurious ones are
// allowed), so each one is checked by reading the record. A subscription
// that fails or ends leaves the session to notice at its next renewal, as
// without notifications.
func (s *Session) watch(subscribed chan<- struct{}) {
	defer close(s.watching)
	ch, err := s.m.waiters.notifier.Subscribe(s.run, s.opts.Key)
	close(subscribed)
	if err != nil {
		return
	}
	for {
		select {
		case <-s.run.Done():
			return
		case _, ok := <-ch:
			if !ok {
				return
			}
			s.check()
		}
	}
}

// check reads the record after a signal and ends the session with ErrLost
// if the lease is no longer this grant. It never extends the safe deadline:
// the read says nothing about when the store will let the lease go. A read
// that fails decides nothing; the heartbeat goes on as before.
func (s *Session) check() {
	s.mu.Lock()
	token, deadline := s.lock.FencingToken, s.safeTill
	s.mu.Unlock()
	ctx, cancel := context.WithDeadline(s.run, deadline)
	got, err := s.m.Get(ctx, s.opts.Key)
	cancel()
	var reason error
	switch {
	case errors.Is(err, ErrNotFound):
		reason = err
	case err != nil:
		return
	case got.Holder != s.opts.Holder || got.FencingToken != token:
		if got.Holder == "" {
			reason = fmt.Errorf("%w: released by someone else", ErrNotHolder)
		} else {
			reason = fmt.Errorf("%w: held by %q with fencing token %d", ErrNotHolder, got.Holder, got.FencingToken)
		}
	case !got.Held:
		reason = fmt.Errorf("%w: the store judges the lease expired", ErrLeaseExpired)
	default:
		return
	}
	if s.run.Err() != nil {
		// Released meanwhile: the change was (or may have been) our own.
		return
	}
	s.end(fmt.Errorf("holding %q: %w: %w", s.opts.Key, ErrLost, reason))
}
