//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leasehold/leasehold/internal/history"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// The lease settings the issue asks for. The margin is generous because
// under -race on a loaded 2-core machine goroutines are sometimes
// scheduled 100 ms late; the believed interval ends at the Context's
// cancel (context.AfterFunc), which is then still far ahead of the store's
// expiry.
const (
	leaseDuration = 2 * time.Second
	safetyMargin  = 500 * time.Millisecond
	// holdWait is how long one Hold waits for a held key before trying
	// again (ErrLockHeld); acquireTimeout bounds one Hold in all, so that a
	// client stuck behind a fault gives up and tries afresh.
	holdWait       = 3 * time.Second
	acquireTimeout = 6 * time.Second
	// liveness bounds every wait for progress. It never decides a pass: it
	// only stops a stuck run with a clear failure.
	liveness = 90 * time.Second
)

// workRange is how long a client works between acquire and write.
type workRange struct{ min, max time.Duration }

func (w workRange) pick() time.Duration {
	return w.min + rand.N(w.max-w.min+1)
}

// workload is one scenario's clients, their shared history and register.
type workload struct {
	keys     []string
	work     workRange
	clock    *history.Clock
	rec      *history.Recorder
	reg      *history.Register
	grants   []atomic.Int64 // per key index: grants so far
	holding  []atomic.Int32 // per key index: client holding it, or -1
	rejected atomic.Int64   // writes the register refused (fenced off)
	lost     atomic.Int64   // sessions that ended before their release
	failures chan error     // unexpected errors from clients
}

func newWorkload(keys []string, work workRange) *workload {
	clock := history.NewClock()
	w := &workload{
		keys:     keys,
		work:     work,
		clock:    clock,
		rec:      history.NewRecorder(clock),
		reg:      history.NewRegister(clock),
		grants:   make([]atomic.Int64, len(keys)),
		holding:  make([]atomic.Int32, len(keys)),
		failures: make(chan error, 100),
	}
	for i := range w.holding {
		w.holding[i].Store(-1)
	}
	return w
}

// run starts one client per manager, each on a key of its own choosing,
// until ctx ends; the returned function waits for them all.
func (w *workload) run(ctx context.Context, managers []*lockmanager.Manager) (wait func() error) {
	var wg sync.WaitGroup
	for i, m := range managers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.client(ctx, i, m)
		}()
	}
	return func() error {
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(liveness):
			return fmt.Errorf("clients still running %s after the workload ended", liveness)
		}
	}
}

// client loops: Hold a key, work while watching the session's Context,
// write with the fencing token only while the Context is alive, release.
func (w *workload) client(ctx context.Context, id int, m *lockmanager.Manager) {
	name := fmt.Sprintf("client-%d", id)
	for ctx.Err() == nil {
		k := rand.N(len(w.keys))
		w.once(ctx, id, name, k, m)
	}
}

func (w *workload) once(ctx context.Context, id int, name string, k int, m *lockmanager.Manager) {
	key := w.keys[k]
	s, err := hold(ctx, m, name, key)
	if err != nil {
		if errors.Is(err, lockmanager.ErrInvalidArgument) {
			w.fail(fmt.Errorf("%s: Hold(%q): %w", name, key, err))
		}
		pause(ctx, 10*time.Millisecond+rand.N(40*time.Millisecond))
		return
	}
	defer s.end()
	token := s.FencingToken()
	h := w.rec.Begin(key, name, token)
	stop := context.AfterFunc(s.Context(), h.End)
	defer stop()
	w.grants[k].Add(1)
	w.holding[k].Store(int32(id))

	t := time.NewTimer(w.work.pick())
	select {
	case <-s.Context().Done():
	case <-ctx.Done(): // the workload ends: stop believing, then release
	case <-t.C:
		// Write only while the lease is believed held.
		if s.Context().Err() == nil && !w.reg.Write(key, name, token) {
			w.rejected.Add(1)
		}
	}
	t.Stop()
	w.holding[k].CompareAndSwap(int32(id), -1)
	// The client stops believing before it sends the release.
	h.End()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), liveness)
	defer rcancel()
	// An error says why the session ended before Release: the faults at
	// work (lost to another holder, expired, store unavailable).
	if err := s.Release(rctx); err != nil {
		w.lost.Add(1)
	}
	select {
	case <-s.Done():
	case <-rctx.Done():
		w.fail(fmt.Errorf("%s: session on %q did not end within %s of Release", name, key, liveness))
	}
}

// heldSession is a Session whose parent context only ends after the
// client has released it (end), so that the session is only ever given
// up by Release or lost: never released on its own by a parent context
// ending, which would free the key before the client's belief is recorded
// as ended (context.AfterFunc runs a moment after the cancel).
type heldSession struct {
	*lockmanager.Session
	end context.CancelFunc
}

// errEnding reports a grant that arrived just as the Hold was being given
// up (the workload ended or acquireTimeout passed): its session is already
// ending, so the client never believes it holds the lock.
var errEnding = errors.New("granted as the acquire was given up")

// hold acquires key for holder, waiting up to holdWait, giving up when ctx
// ends or after acquireTimeout (so that a client stuck behind a fault
// tries afresh).
func hold(ctx context.Context, m *lockmanager.Manager, holder, key string) (*heldSession, error) {
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopWatch := context.AfterFunc(ctx, cancel)
	timer := time.AfterFunc(acquireTimeout, cancel)
	s, err := lockmanager.Hold(hctx, m, lockmanager.AcquireOptions{
		Key: key, Holder: holder, LeaseDuration: leaseDuration, Wait: holdWait,
	}, lockmanager.WithSafetyMargin(safetyMargin))
	watched, timed := stopWatch(), timer.Stop()
	if err != nil {
		cancel()
		return nil, err
	}
	if !watched || !timed {
		// hctx is cancelled: the session releases itself.
		cancel()
		select {
		case <-s.Done():
		case <-time.After(liveness):
		}
		return nil, errEnding
	}
	return &heldSession{Session: s, end: cancel}, nil
}

func (w *workload) fail(err error) {
	select {
	case w.failures <- err:
	default:
	}
}

// holder returns a client that holds key index k now, waiting up to
// liveness for one.
func (w *workload) holder(ctx context.Context, k int) (int, error) {
	deadline := time.Now().Add(liveness)
	for time.Now().Before(deadline) {
		if id := w.holding[k].Load(); id >= 0 {
			return int(id), nil
		}
		if !pause(ctx, 10*time.Millisecond) {
			return -1, ctx.Err()
		}
	}
	return -1, fmt.Errorf("no client held %q within %s", w.keys[k], liveness)
}

// progress waits until every key has been granted again after the
// counts in before, proving that the system recovered from the faults.
func (w *workload) progress(ctx context.Context, before []int64) error {
	deadline := time.Now().Add(liveness)
	for k := range w.keys {
		for w.grants[k].Load() <= before[k] {
			if time.Now().After(deadline) {
				return fmt.Errorf("no grant of %q within %s after the faults healed", w.keys[k], liveness)
			}
			if !pause(ctx, 10*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (w *workload) grantCounts() []int64 {
	out := make([]int64, len(w.grants))
	for i := range w.grants {
		out[i] = w.grants[i].Load()
	}
	return out
}

// pause sleeps for d unless ctx ends first; it reports whether ctx is
// still alive.
func pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
