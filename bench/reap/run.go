/*
Copyright 2026 The Leasehold Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/controllers"
)

// bench is one control plane, one in-process manager and the clients.
type bench struct {
	c      config
	env    *envtest.Environment
	admin  *rest.Config
	scheme *runtime.Scheme
	// cl creates the locks, as the lock holders do; it has no client-side
	// rate limit.
	cl      client.Client
	counts  *counts
	reaped  *reapClock
	stopMgr func()
	// namespaces are the namespaces createLocks made.
	namespaces []string
	// createRate is locks created per second in the last creation, to
	// time the next run's expiries after its creation.
	createRate float64
}

func run(ctx context.Context, c config) (*report, error) {
	// The controller's logs would cost more than the work measured.
	logf.SetLogger(logr.Discard())
	rep := newReport(c)
	b := &bench{c: c, scheme: runtime.NewScheme(), counts: newCounts()}
	utilruntime.Must(clientgoscheme.AddToScheme(b.scheme))
	utilruntime.Must(locksv1alpha1.AddToScheme(b.scheme))
	b.env = &envtest.Environment{
		CRDDirectoryPaths:     []string{c.crds},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: c.assets,
		Scheme:                b.scheme,
	}
	var err error
	if b.admin, err = b.env.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane (run from the repository root after `make setup-envtest`): %w", err)
	}
	defer func() { _ = b.env.Stop() }()
	free := rest.CopyConfig(b.admin)
	free.QPS = -1 // no client-side limit
	if b.cl, err = client.New(free, client.Options{Scheme: b.scheme}); err != nil {
		return nil, err
	}
	if c.locks > 0 || c.burst > 0 || c.spread > 0 {
		if err := b.startManager(ctx); err != nil {
			return nil, err
		}
		defer b.stop()
	}

	if c.locks > 0 {
		r, err := b.delayRun(ctx, c.locks)
		if err != nil {
			return rep.finish(), err
		}
		rep.Delay = r
	}
	if c.burst > 0 {
		r, err := b.burstRun(ctx, c.burst)
		if err != nil {
			return rep.finish(), err
		}
		rep.Burst = r
	}
	if c.spread > 0 {
		r, err := b.spreadRun(ctx, c.spread, c.over)
		if err != nil {
			return rep.finish(), err
		}
		rep.Spread = r
	}
	if c.memory > 0 {
		b.stop() // its cache and reconciles would compete with the manager process measured
		r, err := b.memoryRun(ctx, c.memory)
		if r != nil {
			rep.Memory = r
		}
		if err != nil {
			return rep.finish(), err
		}
	}
	return rep.finish(), nil
}

// startManager runs the controller in a manager built as cmd/manager builds
// it with its default flags (options.go: restConfig, managerOptions,
// reconciler; main.go): client QPS and burst, the cache trimmed by controllers.TrimCachedLock,
// the real clock, a 1 s clock-skew allowance, no reap grace, 8 workers, the
// manager's Event recorder with the default limit of Reaped Events. Differences: no metrics or probe listeners and
// no logs; every request goes through the counting transport, which notes
// the moment each reaping write succeeded.
func (b *bench) startManager(ctx context.Context) error {
	cfg := rest.CopyConfig(b.admin)
	cfg.QPS = float32(b.c.qps)
	cfg.Burst = b.c.qpsBurst
	cfg.WrapTransport = b.counts.wrap
	opts := ctrl.Options{
		Scheme:                 b.scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	}
	opts.Cache.ByObject = map[client.Object]cache.ByObject{
		&locksv1alpha1.DistributedLock{}: {Transform: controllers.TrimCachedLock},
	}
	mgr, err := ctrl.NewManager(cfg, opts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	var rec events.EventRecorder = mgr.GetEventRecorder(controllers.ControllerName)
	if b.c.noEvents {
		rec = discardEvents{}
	}
	b.reaped = newReapClock(rec)
	b.counts.mu.Lock()
	b.counts.wrote = func(ns, name string) { b.reaped.reap(types.NamespacedName{Namespace: ns, Name: name}) }
	b.counts.mu.Unlock()
	// The moment the manager's informer delivers each new lock: when the
	// controller first observes its lease (rule (a) counts from there).
	inf, err := mgr.GetCache().GetInformer(ctx, &locksv1alpha1.DistributedLock{})
	if err != nil {
		return err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: func(obj any) {
		if o, ok := obj.(client.Object); ok {
			b.reaped.sight(client.ObjectKeyFromObject(o))
		}
	}}); err != nil {
		return err
	}
	r := &controllers.DistributedLockReconciler{
		Recorder:                b.reaped,
		Clock:                   clock.RealClock{},
		Rule:                    controllers.ExpiryRule{ClockSkewAllowance: controllers.DefaultClockSkewAllowance},
		MaxConcurrentReconciles: b.c.workers,
	}
	if err := r.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the controller: %w", err)
	}
	mgrCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	b.stopMgr = func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Println("reap: manager:", err)
		}
	}
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.New("the manager's cache did not sync")
	}
	return nil
}

func (b *bench) stop() {
	if b.stopMgr != nil {
		b.stopMgr()
		b.stopMgr = nil
	}
}

// lockInfo is one lock created by createLocks.
type lockInfo struct {
	name      types.NamespacedName
	expiresAt time.Time
	lease     time.Duration
	obj       *locksv1alpha1.DistributedLock
}

// leaseFunc decides lock i's lease (whole seconds, as the CRD has it) and
// reapPolicy at the instant now of its creation.
type leaseFunc func(i int, now time.Time) (seconds int, policy locksv1alpha1.ReapPolicy)

// createLocks creates n held locks in a new namespace the way a client's
// acquire does (renewTime = acquireTime = now), writers at a time, as fast
// as the server takes them.
func (b *bench) createLocks(ctx context.Context, prefix string, n int, lease leaseFunc) ([]lockInfo, time.Duration, error) {
	return b.createLocksPaced(ctx, prefix, n, 0, lease)
}

// createLocksPaced is createLocks starting lock i no earlier than i × every
// after the first.
func (b *bench) createLocksPaced(ctx context.Context, prefix string, n int, every time.Duration,
	lease leaseFunc) ([]lockInfo, time.Duration, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := b.cl.Create(ctx, ns); err != nil {
		return nil, 0, fmt.Errorf("creating a namespace: %w", err)
	}
	b.namespaces = append(b.namespaces, ns.Name)
	locks := make([]lockInfo, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, b.c.writers)
	for w := range b.c.writers {
		wg.Go(func() {
			for i := w; i < n; i += b.c.writers {
				if every > 0 {
					time.Sleep(time.Until(start.Add(time.Duration(i) * every)))
				}
				name := types.NamespacedName{Namespace: ns.Name, Name: fmt.Sprintf("lock-%06d", i)}
				now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
				secs, policy := lease(i, now.Time)
				obj := &locksv1alpha1.DistributedLock{
					ObjectMeta: metav1.ObjectMeta{Namespace: name.Namespace, Name: name.Name},
					Spec: locksv1alpha1.DistributedLockSpec{
						Key:                  name.Name, // a key that is a valid object name names its own object
						HolderIdentity:       fmt.Sprintf("worker-%d", i),
						LeaseDurationSeconds: ptr.To(int32(secs)),
						AcquireTime:          &now,
						RenewTime:            &now,
						FencingToken:         int64(i + 1),
						ReapPolicy:           policy,
					},
				}
				if err := b.cl.Create(ctx, obj); err != nil {
					errs <- fmt.Errorf("creating %s: %w", name, err)
					return
				}
				locks[i] = lockInfo{name: name, expiresAt: now.Add(time.Duration(secs) * time.Second),
					lease: time.Duration(secs) * time.Second, obj: obj}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, 0, err
	}
	took := time.Since(start)
	b.createRate = float64(n) / took.Seconds()
	return locks, took, nil
}

// leadFor is how long from now the first expiry of n new locks should lie
// so that they are all created by then: the last creation's rate with room
// to spare (150 locks/s if none was measured yet), plus 5 s.
func (b *bench) leadFor(n int) time.Duration {
	rate := b.createRate
	if rate <= 0 {
		rate = 150
	}
	return time.Duration(1.5*float64(n)/rate*float64(time.Second)) + 5*time.Second
}

// wholeSecondsUntil is the whole number of seconds (at least 1) nearest to
// target - now.
func wholeSecondsUntil(target, now time.Time) int {
	return max(1, int(math.Round(target.Sub(now).Seconds())))
}

// reapResult is what waitReaped learns of one set of locks.
type reapResult struct {
	firstReap, lastReap time.Time
	delays              []time.Duration // sorted
	// sightLags is, per lock, from its renewTime to the moment the
	// manager's informer delivered it; reaperLags from the instant the
	// expiry rule reaps it (the earlier of delivery + lease and expiresAt
	// + the skew allowance) to the reap. Both sorted.
	sightLags, reaperLags []time.Duration
	writes                writeSplit
}

// waitReaped waits until every lock of locks has been reaped once, then
// until the manager has written an Event for each (they are sent
// asynchronously; at most 2 minutes), and sorts the manager's requests since
// before into writes.
func (b *bench) waitReaped(ctx context.Context, locks []lockInfo, before map[string]int64) (*reapResult, error) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		missing := 0
		for _, l := range locks {
			if _, times := b.reaped.at(l.name); times == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%d of %d locks not reaped before the timeout", missing, len(locks))
		case <-tick.C:
		}
	}
	r := &reapResult{delays: make([]time.Duration, len(locks))}
	for i, l := range locks {
		at, times := b.reaped.at(l.name)
		if times != 1 {
			return nil, fmt.Errorf("%s reaped %d times, want once", l.name, times)
		}
		r.delays[i] = at.Sub(l.expiresAt)
		if seen := b.reaped.sighted(l.name); !seen.IsZero() {
			due := minTime(seen.Add(l.lease), l.expiresAt.Add(controllers.DefaultClockSkewAllowance))
			r.sightLags = append(r.sightLags, seen.Sub(l.expiresAt.Add(-l.lease)))
			r.reaperLags = append(r.reaperLags, at.Sub(due))
		}
		if r.firstReap.IsZero() || at.Before(r.firstReap) {
			r.firstReap = at
		}
		if at.After(r.lastReap) {
			r.lastReap = at
		}
	}
	slices.Sort(r.delays)
	slices.Sort(r.sightLags)
	slices.Sort(r.reaperLags)
	settle := time.Now().Add(2 * time.Minute)
	// The Events the controller recorded are sent in the background: wait
	// until their count has not moved for two seconds.
	for last, still := int64(-1), time.Now(); !b.c.noEvents && time.Now().Before(settle); time.Sleep(50 * time.Millisecond) {
		if n := split(before, b.counts.snapshot()).Events; n != last {
			last, still = n, time.Now()
		} else if time.Since(still) > 2*time.Second {
			break
		}
	}
	time.Sleep(time.Second) // anything else the reaps set off
	r.writes = split(before, b.counts.snapshot())
	return r, nil
}

// delayRun is the original run: locks with short leases, created while the
// first ones expire, half Release and half Delete.
func (b *bench) delayRun(ctx context.Context, n int) (*delayResult, error) {
	before := b.counts.snapshot()
	locks, created, err := b.createLocks(ctx, "delay", n, func(i int, _ time.Time) (int, locksv1alpha1.ReapPolicy) {
		return b.c.minLease + i%b.c.leaseSpread, policyOf(i)
	})
	if err != nil {
		return nil, err
	}
	start := time.Now().Add(-created)
	r, err := b.waitReaped(ctx, locks, before)
	if err != nil {
		return nil, err
	}
	d := &delayResult{Locks: n, MinLease: b.c.minLease, MaxLease: b.c.minLease + b.c.leaseSpread - 1, Writers: b.c.writers,
		Workers: b.c.workers, CreatedS: created.Seconds(), AllReapedS: r.lastReap.Sub(start).Seconds(),
		Delay: summarize(r.delays), Writes: r.writes, WritesPerReap: perReap(r.writes, n)}
	// bench/compare reads these lines.
	fmt.Printf("locks %d (leases %d-%d s, half Release, half Delete), writers %d, controller workers %d\n",
		n, d.MinLease, d.MaxLease, d.Writers, d.Workers)
	fmt.Printf("created in %s; all reaped %s after the first create\n", created.Round(time.Millisecond),
		r.lastReap.Sub(start).Round(time.Millisecond))
	fmt.Printf("reap delay after expiry: %s\n", d.Delay.line())
	fmt.Printf("manager writes per reap: %s\n", d.WritesPerReap.line())
	return d, nil
}

func policyOf(i int) locksv1alpha1.ReapPolicy {
	if i%2 == 1 {
		return locksv1alpha1.ReapPolicyDelete
	}
	return locksv1alpha1.ReapPolicyRelease
}

// burstRun measures the guarded updates the server accepts, then a burst of
// expiries reaped by the controller, on the same number of locks.
func (b *bench) burstRun(ctx context.Context, n int) (*burstResult, error) {
	res := &burstResult{Locks: n, Workers: b.c.workers, QPS: b.c.qps, QPSBurst: b.c.qpsBurst}

	// The raw limit: n held locks (a lease of an hour, so the controller
	// only watches them), each released by one guarded Update, as the
	// controller's Release reap does, from workers goroutines sharing a
	// client with the manager's QPS and burst.
	fmt.Printf("== burst: %d guarded updates, then %d leases expiring together\n", n, n)
	raw, created, err := b.createLocks(ctx, "raw", n, func(int, time.Time) (int, locksv1alpha1.ReapPolicy) {
		return 3600, locksv1alpha1.ReapPolicyRelease
	})
	if err != nil {
		return nil, err
	}
	res.CreateRate = float64(n) / created.Seconds()
	limited := rest.CopyConfig(b.admin)
	limited.QPS = float32(b.c.qps)
	limited.Burst = b.c.qpsBurst
	if res.RawPerS, err = b.guardedUpdates(ctx, limited, raw, release); err != nil {
		return nil, err
	}
	fmt.Printf("raw guarded updates (QPS %g, burst %d, %d workers): %.0f/s\n", b.c.qps, b.c.qpsBurst, b.c.workers, res.RawPerS)
	if b.c.rawFree {
		free := rest.CopyConfig(b.admin)
		free.QPS = -1
		if res.RawUnlimitedPerS, err = b.guardedUpdates(ctx, free, raw, regrant); err != nil {
			return nil, err
		}
		fmt.Printf("raw guarded updates (no client limit, %d workers): %.0f/s\n", b.c.workers, res.RawUnlimitedPerS)
	}

	// The burst: every expiresAt within half a second of target.
	before := b.counts.snapshot()
	target := time.Now().Add(b.leadFor(n))
	locks, created, err := b.createLocks(ctx, "burst", n, func(_ int, now time.Time) (int, locksv1alpha1.ReapPolicy) {
		return wholeSecondsUntil(target, now), locksv1alpha1.ReapPolicyRelease
	})
	if err != nil {
		return nil, err
	}
	res.CreatedS = created.Seconds()
	first, last := locks[0].expiresAt, locks[0].expiresAt
	for _, l := range locks {
		first = minTime(first, l.expiresAt)
		last = maxTime(last, l.expiresAt)
	}
	res.ExpirySpanS = last.Sub(first).Seconds()
	r, err := b.waitReaped(ctx, locks, before)
	if err != nil {
		return nil, err
	}
	res.FirstReapAfterS = r.firstReap.Sub(first).Seconds()
	res.ReapSpanS = r.lastReap.Sub(r.firstReap).Seconds()
	res.ReapsPerS = float64(n-1) / r.lastReap.Sub(r.firstReap).Seconds()
	res.Ratio = res.ReapsPerS / res.RawPerS
	res.Delay = summarize(r.delays)
	res.SightLag, res.ReaperLag = summarize(r.sightLags), summarize(r.reaperLags)
	res.Writes = r.writes
	res.WritesPerReap = perReap(r.writes, n)
	fmt.Printf("burst: expiries within %.2f s; first reap %.2f s after the first expiry; %d reaps in %.2f s = %.0f reaps/s "+
		"(%.2fx the raw guarded updates)\n", res.ExpirySpanS, res.FirstReapAfterS, n, res.ReapSpanS, res.ReapsPerS, res.Ratio)
	fmt.Printf("burst reap delay after expiry: %s\n", res.Delay.line())
	fmt.Printf("manager writes per reap: %s\n", res.WritesPerReap.line())
	return res, nil
}

// release clears the holder as the controller's Release reap does.
func release(l *locksv1alpha1.DistributedLock) {
	l.Spec.HolderIdentity = ""
	l.Spec.AcquireTime, l.Spec.RenewTime, l.Spec.LeaseDurationSeconds, l.Spec.Metadata = nil, nil, nil, nil
}

// regrant holds the lock again for an hour: a write of the same size.
func regrant(l *locksv1alpha1.DistributedLock) {
	now := metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))
	l.Spec.HolderIdentity = "again"
	l.Spec.AcquireTime, l.Spec.RenewTime, l.Spec.LeaseDurationSeconds = &now, &now, ptr.To(int32(3600))
	l.Spec.FencingToken++
}

// guardedUpdates applies change to every lock with an Update guarded by
// the resourceVersion it holds, from b.c.workers goroutines sharing one
// client built from cfg, and returns updates per second from the first
// completed to the last.
func (b *bench) guardedUpdates(ctx context.Context, cfg *rest.Config, locks []lockInfo,
	change func(*locksv1alpha1.DistributedLock)) (float64, error) {
	cl, err := client.New(cfg, client.Options{Scheme: b.scheme})
	if err != nil {
		return 0, err
	}
	done := make([]time.Time, len(locks))
	var wg sync.WaitGroup
	errs := make(chan error, b.c.workers)
	for w := range b.c.workers {
		wg.Go(func() {
			for i := w; i < len(locks); i += b.c.workers {
				change(locks[i].obj)
				if err := cl.Update(ctx, locks[i].obj); err != nil {
					errs <- fmt.Errorf("updating %s: %w", locks[i].name, err)
					return
				}
				done[i] = time.Now()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return 0, err
	}
	first, last := done[0], done[0]
	for _, t := range done {
		first, last = minTime(first, t), maxTime(last, t)
	}
	return float64(len(locks)-1) / last.Sub(first).Seconds(), nil
}

// spreadRun creates n locks one every over/n, each with a lease of
// -spread-lease, so that their expiries spread evenly over the span while
// new grants keep arriving at the same rate (as they would when clients
// abandon leases at a steady rate), and reports the reap delay.
func (b *bench) spreadRun(ctx context.Context, n int, over time.Duration) (*spreadResult, error) {
	fmt.Printf("== spread: %d leases of %d s granted one every %s, so that they expire over %s\n",
		n, b.c.spreadLease, over/time.Duration(n), over)
	before := b.counts.snapshot()
	locks, created, err := b.createLocksPaced(ctx, "spread", n, over/time.Duration(n),
		func(i int, _ time.Time) (int, locksv1alpha1.ReapPolicy) { return b.c.spreadLease, policyOf(i) })
	if err != nil {
		return nil, err
	}
	first, last := locks[0].expiresAt, locks[0].expiresAt
	for _, l := range locks {
		first, last = minTime(first, l.expiresAt), maxTime(last, l.expiresAt)
	}
	r, err := b.waitReaped(ctx, locks, before)
	if err != nil {
		return nil, err
	}
	res := &spreadResult{Locks: n, OverS: over.Seconds(), LeaseS: b.c.spreadLease, Workers: b.c.workers, CreatedS: created.Seconds(),
		ExpirySpanS: last.Sub(first).Seconds(), Delay: summarize(r.delays), Writes: r.writes, WritesPerReap: perReap(r.writes, n),
		SightLag: summarize(r.sightLags), ReaperLag: summarize(r.reaperLags)}
	fmt.Printf("spread: expiries over %.1f s; reap delay after expiry: %s\n", res.ExpirySpanS, res.Delay.line())
	fmt.Printf("  of which the watch delivering the grant: %s\n", res.SightLag.line())
	fmt.Printf("  and the reaper after the rule's instant: %s\n", res.ReaperLag.line())
	fmt.Printf("manager writes per reap: %s\n", res.WritesPerReap.line())
	return res, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// reapClock notes when each lock's reaping write succeeded (the manager's
// transport tells it) and passes the controller's Events on. It times the
// write itself rather than the Reaped Event that follows it, since Events
// past the controller's limit are not recorded at all.
type reapClock struct {
	next events.EventRecorder

	mu    sync.Mutex
	first map[types.NamespacedName]time.Time
	times map[types.NamespacedName]int
	seen  map[types.NamespacedName]time.Time
}

// sight notes when the manager's informer first delivered name.
func (r *reapClock) sight(name types.NamespacedName) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.seen[name]; !ok {
		r.seen[name] = now
	}
}

func (r *reapClock) sighted(name types.NamespacedName) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[name]
}

func newReapClock(next events.EventRecorder) *reapClock {
	return &reapClock{next: next, first: make(map[types.NamespacedName]time.Time), times: make(map[types.NamespacedName]int),
		seen: make(map[types.NamespacedName]time.Time)}
}

// reap notes a reaping write of name that succeeded.
func (r *reapClock) reap(name types.NamespacedName) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.times[name] == 0 {
		r.first[name] = now
	}
	r.times[name]++
}

// Eventf implements events.EventRecorder.
func (r *reapClock) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

func (r *reapClock) at(name types.NamespacedName) (time.Time, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.first[name], r.times[name]
}

// discardEvents is an events.EventRecorder that records nothing (-discard-events).
type discardEvents struct{}

// Eventf implements events.EventRecorder.
func (discardEvents) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}
