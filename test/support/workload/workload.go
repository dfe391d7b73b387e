package workload

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/history"
)

// Config is one run's settings, the same for every Locker compared.
type Config struct {
	// Clients contend for Keys in every scenario (default 8).
	Clients int
	// Keys are the keys contended for (default two).
	Keys []string
	// Duration is how long each scenario injects faults; a fault in
	// progress is always finished and healed (default 3 s).
	Duration time.Duration
	// Lease is every grant's lease (default 2 s).
	Lease time.Duration
	// SafetyMargin is how long before the lease's end a holder stops
	// believing (Leasehold's WithSafetyMargin; anchors map it to their own
	// option where they have one). The default, 500 ms, is generous
	// because under -race on a loaded 2-core machine goroutines are
	// sometimes scheduled 100 ms late.
	SafetyMargin time.Duration
	// HoldWait is how long one Hold waits for a held key before trying
	// again (default 3 s); AcquireTimeout bounds one Hold in all, so that
	// a client stuck behind a fault tries afresh (default 6 s).
	HoldWait, AcquireTimeout time.Duration
	// Liveness bounds every wait for progress (default 90 s). It never
	// decides a pass: it only stops a stuck run with a clear failure.
	Liveness time.Duration
}

// WithDefaults returns c with every unset field at its default, for
// Lockers that read the settings (Liveness, HoldWait...).
func (c Config) WithDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.Clients <= 0 {
		c.Clients = 8
	}
	if len(c.Keys) == 0 {
		c.Keys = []string{"chaos:key-0", "chaos:key-1"}
	}
	def(&c.Duration, 3*time.Second)
	def(&c.Lease, 2*time.Second)
	def(&c.SafetyMargin, 500*time.Millisecond)
	def(&c.HoldWait, 3*time.Second)
	def(&c.AcquireTimeout, 6*time.Second)
	def(&c.Liveness, 90*time.Second)
	return c
}

// WorkRange is how long a client works between acquire and write.
type WorkRange struct{ Min, Max time.Duration }

func (w WorkRange) pick() time.Duration {
	return w.Min + rand.N(w.Max-w.Min+1)
}

// The two kinds of work the issue asks for.
var (
	ShortWork = WorkRange{0, 300 * time.Millisecond}
	LongWork  = WorkRange{500 * time.Millisecond, 2 * time.Second}
)

// Workload is one scenario's clients, their shared history and the
// protected resource they write to.
type Workload struct {
	cfg      Config
	keys     []string
	work     WorkRange
	clock    *history.Clock
	rec      *history.Recorder
	reg      *history.Register
	grantMu  sync.Mutex      // orders grants for unfenced lockers
	grants   []atomic.Int64  // per key index: grants so far
	holding  []atomic.Int32  // per key index: client holding it, or -1
	rejected atomic.Int64    // writes the register or resource refused (fenced off)
	writes   atomic.Int64    // writes to a real resource, accepted or refused
	highest  []atomic.Uint64 // per key index: the highest token accepted
	// res, when set, is the real resource every write goes to (see
	// Resource); resMu keeps its writes one at a time, in the order the
	// history records them.
	res   Resource
	resMu sync.Mutex
	// lateWrites and lateRefused count the writes of a holder process
	// resumed after a pause past its lease, and those the resource refused.
	lateWrites, lateRefused atomic.Int64
	lost                    atomic.Int64 // leases that ended before their release
	fenced                  atomic.Bool  // some lease carried a fencing token
	failures                chan error   // unexpected errors from clients
}

// NewWorkload returns a workload on keys whose clients work for a time
// picked from work before each write.
func NewWorkload(cfg Config, keys []string, work WorkRange) *Workload {
	cfg = cfg.WithDefaults()
	clock := history.NewClock()
	w := &Workload{
		cfg:      cfg,
		keys:     keys,
		work:     work,
		clock:    clock,
		rec:      history.NewRecorder(clock),
		reg:      history.NewRegister(clock),
		grants:   make([]atomic.Int64, len(keys)),
		holding:  make([]atomic.Int32, len(keys)),
		highest:  make([]atomic.Uint64, len(keys)),
		failures: make(chan error, 100),
	}
	for i := range w.holding {
		w.holding[i].Store(-1)
	}
	return w
}

// Run starts one client per locker, each on keys of its own choosing,
// until ctx ends; the returned function waits for them all.
func (w *Workload) Run(ctx context.Context, lockers []Locker) (wait func() error) {
	var wg sync.WaitGroup
	for i, l := range lockers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("client-%d", i)
			for ctx.Err() == nil {
				w.once(ctx, i, name, rand.N(len(w.keys)), l)
			}
		}()
	}
	return func() error {
		if !waitDone(waitGroupDone(&wg), w.cfg.Liveness) {
			return fmt.Errorf("clients still running %s after the workload ended", w.cfg.Liveness)
		}
		return nil
	}
}

func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// once is one round of a client: Hold a key, work while watching the
// lease's Context, write with the fencing token only while the Context is
// alive, release.
func (w *Workload) once(ctx context.Context, id int, name string, k int, l Locker) {
	key := w.keys[k]
	hctx, cancel := context.WithTimeout(ctx, w.cfg.AcquireTimeout)
	lease, err := l.Hold(hctx, key, name)
	cancel()
	if err != nil {
		if errors.Is(err, lockmanager.ErrInvalidArgument) {
			w.fail(fmt.Errorf("%s: Hold(%q): %w", name, key, err))
		}
		pause(ctx, 10*time.Millisecond+rand.N(40*time.Millisecond))
		return
	}
	h, token, fenced := w.begin(k, name, lease)
	stop := context.AfterFunc(lease.Context(), h.End)
	defer stop()
	w.holding[k].Store(int32(id))

	t := time.NewTimer(w.work.pick())
	select {
	case <-lease.Context().Done():
	case <-ctx.Done(): // the workload ends: stop believing, then release
	case <-t.C:
		// Write only while the lease is believed held.
		if lease.Context().Err() == nil {
			w.write(ctx, key, name, token, fenced)
		}
	}
	t.Stop()
	w.holding[k].CompareAndSwap(int32(id), -1)
	// The client stops believing before it sends the release.
	h.End()
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Liveness)
	defer rcancel()
	// An error says why the lease ended before Release: the faults at
	// work (lost to another holder, expired, store unavailable).
	if err := lease.Release(rctx); err != nil {
		if errors.Is(err, ErrStuck) {
			w.fail(fmt.Errorf("%s: lease on %q: %w", name, key, err))
		}
		w.lost.Add(1)
	}
}

// begin records that client name believes it holds key index k from now.
// A lease without a fencing token gets its place in the order of grants
// on this key as its token, so that the checker can count the writes a
// fenced resource would have refused.
func (w *Workload) begin(k int, name string, lease Lease) (h *history.Hold, token uint64, fenced bool) {
	token, fenced = lease.Token()
	return w.beginToken(k, name, token, fenced)
}

func (w *Workload) beginToken(k int, name string, token uint64, fenced bool) (*history.Hold, uint64, bool) {
	if fenced {
		w.fenced.Store(true)
		w.grants[k].Add(1)
		return w.rec.Begin(w.keys[k], name, token), token, true
	}
	w.grantMu.Lock()
	defer w.grantMu.Unlock()
	token = uint64(w.grants[k].Add(1))
	return w.rec.Begin(w.keys[k], name, token), token, false
}

// write is the guarded write to the protected resource: the real one
// when the scenario has one, otherwise the in-memory register.
func (w *Workload) write(ctx context.Context, key, name string, token uint64, fenced bool) {
	accepted := true
	switch {
	case w.res != nil:
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.Liveness)
		defer cancel()
		w.resMu.Lock()
		defer w.resMu.Unlock()
		var err error
		if accepted, err = w.resourceWrite(wctx, key, name, token); err != nil {
			w.fail(err)
			return
		}
	case !fenced:
		w.reg.WriteUnfenced(key, name, token)
	default:
		if accepted = w.reg.Write(key, name, token); !accepted {
			w.rejected.Add(1)
		}
	}
	if k := slices.Index(w.keys, key); accepted && k >= 0 {
		raise(&w.highest[k], token)
	}
}

// raise sets v to token if token is higher.
func raise(v *atomic.Uint64, token uint64) {
	for {
		cur := v.Load()
		if token <= cur || v.CompareAndSwap(cur, token) {
			return
		}
	}
}

func (w *Workload) fail(err error) {
	select {
	case w.failures <- err:
	default:
	}
}

// holder returns a client that holds key index k now, waiting up to
// Liveness for one.
func (w *Workload) holder(ctx context.Context, k int) (int, error) {
	deadline := time.Now().Add(w.cfg.Liveness)
	for time.Now().Before(deadline) {
		if id := w.holding[k].Load(); id >= 0 {
			return int(id), nil
		}
		if !pause(ctx, 10*time.Millisecond) {
			return -1, ctx.Err()
		}
	}
	return -1, fmt.Errorf("no client held %q within %s", w.keys[k], w.cfg.Liveness)
}

// progress waits until every key has been granted again after the
// counts in before, proving that the system recovered from the faults.
func (w *Workload) progress(ctx context.Context, before []int64) error {
	deadline := time.Now().Add(w.cfg.Liveness)
	for k := range w.keys {
		for w.grants[k].Load() <= before[k] {
			if time.Now().After(deadline) {
				return fmt.Errorf("no grant of %q within %s after the faults healed", w.keys[k], w.cfg.Liveness)
			}
			if !pause(ctx, 10*time.Millisecond) {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (w *Workload) grantCounts() []int64 {
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
