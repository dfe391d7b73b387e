package workload

import (
	"context"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/test/support/history"
)

// Scenario is one workload with one kind of fault.
type Scenario struct {
	Name string
	Work WorkRange
	// Keys overrides Config.Keys (the process scenarios use one key).
	Keys []string
	// Inject injects faults until the deadline (at least once) and
	// returns how many it injected; every fault is healed when it returns.
	Inject func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error)
	// Applies reports whether the cluster can inject the scenario's fault
	// (nil: every cluster can).
	Applies func(c *Cluster) bool
	// OverlapAllowed: no lease can promise that holders' beliefs never
	// overlap under this fault (the store forgot the grant, a process was
	// frozen, a clock was wrong by more than the documented bound), only
	// fencing protects; overlaps are reported, not failed.
	OverlapAllowed func(c *Cluster) bool
	// Resource: every write goes to the cluster's real protected resource
	// (Cluster.Resource) instead of the in-memory register, and the run
	// proves nothing, and fails, unless a late write was refused.
	Resource bool
}

func always(*Cluster) bool { return true }

func untilDeadline(ctx context.Context, until time.Time, every time.Duration, fault func() error) (int, error) {
	n := 0
	for {
		if !pause(ctx, every) {
			return n, ctx.Err()
		}
		if err := fault(); err != nil {
			return n, err
		}
		n++
		if time.Now().After(until) {
			return n, nil
		}
	}
}

func partition(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
	return untilDeadline(ctx, until, 100*time.Millisecond, func() error {
		id, err := w.holder(ctx, 0)
		if err != nil {
			return err
		}
		// Longer than the lease: the store expires the holder's grant and
		// others take the key while the holder cannot even hear about it.
		c.Isolate(id)
		pause(ctx, w.cfg.Lease+time.Second)
		c.Heal()
		return nil
	})
}

// skew runs the workload with every client's clock offset by a value
// drawn from ±spread/2, so that two clients differ by up to spread.
func skew(spread time.Duration) func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
	return func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
		n := len(c.Lockers)
		for i := range n {
			// Evenly spread, from -spread/2 to +spread/2.
			d := -spread/2 + time.Duration(i)*spread/time.Duration(max(n-1, 1))
			c.Skew(i, d)
		}
		pause(ctx, time.Until(until))
		for i := range n {
			c.Skew(i, 0)
		}
		return n, nil
	}
}

// Scenarios returns every scenario of the issue, given the Kubernetes
// backend's skew allowance (the bound within which clients' clocks may
// differ without breaking exclusion).
func Scenarios(skewAllowance time.Duration) []Scenario {
	return []Scenario{
		{
			Name: "none", Work: ShortWork,
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				pause(ctx, time.Until(until))
				return 0, nil
			},
		},
		{
			Name: "restart", Work: ShortWork,
			Applies: func(c *Cluster) bool { return c.Restart != nil },
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				// A store that keeps its data restarts fast; one that loses
				// it stays down for longer than a lease, which is when the
				// contract still promises exclusion.
				return untilDeadline(ctx, until, 700*time.Millisecond, func() error { return c.Restart(!c.LosesData) })
			},
		},
		{
			Name: "restart-fast-data-loss", Work: ShortWork,
			Applies:        func(c *Cluster) bool { return c.Restart != nil && c.LosesData },
			OverlapAllowed: always,
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				return untilDeadline(ctx, until, 700*time.Millisecond, func() error { return c.Restart(true) })
			},
		},
		{Name: "partition-short-work", Work: ShortWork, Inject: partition, Applies: func(c *Cluster) bool { return c.Isolate != nil }},
		{Name: "partition-long-work", Work: LongWork, Inject: partition, Applies: func(c *Cluster) bool { return c.Isolate != nil }},
		{
			Name: "slow-network", Work: ShortWork,
			Applies: func(c *Cluster) bool { return c.Slow != nil },
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				// 100 ms each way: every round trip takes 200 ms more, a
				// tenth of the default lease.
				c.Slow(100 * time.Millisecond)
				pause(ctx, time.Until(until))
				c.Heal()
				return 1, nil
			},
		},
		{
			Name: "connection-resets", Work: ShortWork,
			Applies: func(c *Cluster) bool { return c.Reset != nil },
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				return untilDeadline(ctx, until, 300*time.Millisecond, func() error {
					c.Reset()
					return nil
				})
			},
		},
		{
			// Clients' clocks differ by 80% of the allowance: the contract
			// still promises exclusion.
			Name: "clock-skew-within", Work: ShortWork,
			Applies: func(c *Cluster) bool { return c.Skew != nil },
			Inject:  skew(skewAllowance * 8 / 10),
		},
		{
			// Clocks differ by the lease plus twice the allowance: a client
			// whose clock runs ahead judges live leases expired and takes
			// them. Only fencing protects.
			Name: "clock-skew-beyond", Work: ShortWork,
			Applies:        func(c *Cluster) bool { return c.Skew != nil },
			OverlapAllowed: always,
			Inject: func(ctx context.Context, c *Cluster, w *Workload, until time.Time) (int, error) {
				return skew(2*(w.cfg.Lease+2*skewAllowance))(ctx, c, w, until)
			},
		},
		{
			Name: "holder-killed", Keys: []string{processKey}, Work: WorkRange{},
			Applies: func(c *Cluster) bool { return c.Spawn != nil },
			Inject:  killHolders,
		},
		{
			Name: "holder-paused", Keys: []string{processKey}, Work: WorkRange{},
			Applies:        func(c *Cluster) bool { return c.Spawn != nil },
			OverlapAllowed: always,
			Inject:         pauseHolders,
		},
		{
			// The same pause, with the late write going to the store's
			// real protected resource through its helper.
			Name: "holder-paused-fenced", Keys: []string{processKey}, Work: WorkRange{},
			Applies:        func(c *Cluster) bool { return c.Spawn != nil && c.Resource != nil },
			OverlapAllowed: always,
			Resource:       true,
			Inject:         pauseHoldersFenced,
		},
	}
}

// Result is one scenario's outcome on one cluster.
type Result struct {
	Locker, Store, Scenario string
	Acquisitions, Faults    int
	// Lost counts leases that ended before their holder released them.
	Lost int64
	// Overlaps, StaleAccepted and TokenErrors count the history's
	// violations by kind; Violations lists them all.
	Overlaps, StaleAccepted, TokenErrors int
	// FencedOff counts the writes the protected resource refused.
	FencedOff int64
	// Resource names the real protected resource the writes went to
	// (Scenario.Resource), empty for the in-memory register. Writes
	// counts the writes it decided; LateWrites those of a holder process
	// resumed after a pause past its lease, and LateRefused those of them
	// it refused.
	Resource                        string
	Writes, LateWrites, LateRefused int64
	// Fenced: the locker hands out fencing tokens.
	Fenced bool
	// OverlapAllowed: overlaps are reported, not failed (Scenario).
	OverlapAllowed bool
	Violations     []history.Violation
	Took           time.Duration
}

// Failures returns the violations that fail the scenario: all but the
// overlaps it allows.
func (r Result) Failures() []history.Violation {
	var out []history.Violation
	for _, v := range r.Violations {
		if v.Kind == history.Overlap && r.OverlapAllowed {
			continue
		}
		out = append(out, v)
	}
	return out
}

// Run runs scenario sc on cluster c: the workload under the scenario's
// faults for cfg.Duration, then until every key has been granted again
// after the faults healed. The error reports a run that could not be
// judged (a stuck client, no recovery), with an empty Result; violations
// are in the Result. A Scenario.Resource run whose resource refused no late
// write returns its Result with an error: it proves nothing.
func Run(ctx context.Context, cfg Config, c *Cluster, sc Scenario) (Result, error) {
	cfg = cfg.WithDefaults()
	began := time.Now()
	keys := sc.Keys
	if keys == nil {
		keys = cfg.Keys
	}
	w := NewWorkload(cfg, keys, sc.Work)
	if sc.Resource {
		if c.Resource == nil {
			return Result{}, fmt.Errorf("scenario %s needs a cluster with a real resource", sc.Name)
		}
		w.res = c.Resource
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wait := w.Run(ctx, c.Lockers)

	faults, err := sc.Inject(ctx, c, w, time.Now().Add(cfg.Duration))
	if c.Heal != nil {
		c.Heal()
	}
	if err == nil {
		// Recovery: every key is granted again once the faults are gone.
		err = w.progress(ctx, w.grantCounts())
	}
	cancel()
	if werr := wait(); werr != nil {
		return Result{}, werr
	}
	if err != nil {
		return Result{}, fmt.Errorf("injecting faults: %w", err)
	}
	close(w.failures)
	for ferr := range w.failures {
		return Result{}, ferr
	}

	intervals := w.rec.Intervals()
	r := Result{
		Locker: c.Locker, Store: c.Store, Scenario: sc.Name,
		Acquisitions: len(intervals), Faults: faults, Lost: w.lost.Load(), FencedOff: w.rejected.Load(),
		OverlapAllowed: sc.OverlapAllowed != nil && sc.OverlapAllowed(c),
		Violations:     history.Check(intervals, w.reg.Writes()),
		Took:           time.Since(began),
	}
	r.Fenced = w.fenced.Load()
	if sc.Resource {
		r.Resource = c.Resource.Name()
		r.Writes, r.LateWrites, r.LateRefused = w.writes.Load(), w.lateWrites.Load(), w.lateRefused.Load()
	}
	for _, v := range r.Violations {
		switch v.Kind {
		case history.Overlap:
			r.Overlaps++
		case history.StaleWriteSeen:
			r.StaleAccepted++
		case history.TokenOrder:
			r.TokenErrors++
		}
	}
	if sc.Resource && r.LateRefused == 0 {
		// Nothing was refused: the run cannot tell a fenced resource from
		// one that accepts everything.
		return r, fmt.Errorf("%s refused no late write (%d late writes, %d writes in all): the run proves nothing about fencing",
			r.Resource, r.LateWrites, r.Writes)
	}
	return r, nil
}
