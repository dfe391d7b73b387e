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

package controllers

import (
	"slices"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// namespaceLabel is the label of the lock metrics that break locks down
// by namespace: the locks gauge and the longest-hold gauges.
const namespaceLabel = "namespace"

// phaseInvalid is the locks gauge's label for locks whose spec the
// controller cannot interpret (Valid=False); they have no phase.
const phaseInvalid = "Invalid"

// phaseFree and phaseHeld are the gauge's labels for valid locks that are
// free or held by an unexpired lease (the status leaves those out; the
// gauge still counts them).
const (
	phaseFree = "Free"
	phaseHeld = "Held"
)

// The reaps counter's reason label: why the controller ended a lease.
const (
	reapReasonLeaseExpired = "LeaseExpired"
	reapReasonPodGone      = "PodGone"
)

// phases are the locks gauge's phase labels. Every one of them exists, at
// 0 if no lock is in it, for each namespace that has locks, so that a query
// for {phase="Expired"} finds a series before the first expiry.
var phases = []string{phaseFree, phaseHeld, string(locksv1alpha1.PhaseExpired), phaseInvalid}

// lockMetrics are the controller's Prometheus metrics.
type lockMetrics struct {
	// locks counts the DistributedLocks by namespace and phase (Free,
	// Held, Expired, Invalid).
	locks *prometheus.GaugeVec
	// reaps counts reaping writes that succeeded, by reapPolicy and reason
	// (reapReasonLeaseExpired, reapReasonPodGone).
	reaps *prometheus.CounterVec
	// reapDelay is the time from a lease's expiresAt to the reaping
	// write, on the controller's clock, for leases that expired while the
	// controller was running (see reap).
	reapDelay prometheus.Histogram
	// acquisitions counts grants the controller saw: a new holder, or a
	// new fencing token for the same holder.
	acquisitions prometheus.Counter
	// renewals counts renewals the controller saw: renewTime moved with
	// the same holder and fencing token.
	renewals prometheus.Counter
	// holds reports each namespace's longest current hold, computed from
	// the trackers at scrape time (see holdCollector).
	holds *holdCollector
}

// newLockMetrics creates the metrics and registers them with reg.
func newLockMetrics(reg prometheus.Registerer) *lockMetrics {
	m := &lockMetrics{
		locks: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "leasehold_distributedlocks",
			Help: "Number of DistributedLocks by namespace and phase (Free, Held, Expired, Invalid). " +
				"Every phase of a namespace that has locks is present, at 0 when no lock is in it.",
		}, []string{namespaceLabel, "phase"}),
		reaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "leasehold_distributedlock_reaps_total",
			Help: "Leases ended by the controller, by reapPolicy (Release, Delete) and reason: LeaseExpired " +
				"(the lease ran out) or PodGone (the holder's Pod, spec.holderPod, was deleted, finished or replaced).",
		}, []string{"policy", "reason"}),
		reapDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "leasehold_distributedlock_reap_delay_seconds",
			Help: "Seconds from a lease's expiry (as the controller judged it) to the write that reaped it, " +
				"for leases that expired while the controller was running. A lease that expired before the " +
				"controller started (or while no replica led) is reaped and counted in " +
				"leasehold_distributedlock_reaps_total but not observed here: its delay measures the downtime, " +
				"not the reaper.",
			// 5 ms to about 82 s: the clock-skew allowance (1 s by
			// default) sits in the middle.
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 15),
		}),
		acquisitions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leasehold_distributedlock_acquisitions_observed_total",
			Help: "Lock grants observed by the controller (holder or fencing token changed).",
		}),
		renewals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "leasehold_distributedlock_renewals_observed_total",
			Help: "Lease renewals observed by the controller (renewTime moved, same holder and fencing token).",
		}),
		holds: newHoldCollector(),
	}
	reg.MustRegister(m.locks, m.reaps, m.reapDelay, m.acquisitions, m.renewals, m.holds)
	return m
}

// defaultMetrics are registered with the manager's registry, which the
// manager serves on its metrics endpoint.
var defaultMetrics = newLockMetrics(metrics.Registry)

// grant is what the controller last saw of a lock's holder, to tell an
// acquisition from a renewal.
type grant struct {
	holder       string
	fencingToken int64
	renewTime    int64 // UnixMicro of spec.renewTime; 0 when absent
	acquireTime  int64 // UnixMicro of spec.acquireTime; 0 when absent
	leaseSeconds int32 // spec.leaseDurationSeconds; 0 when absent
}

// seenLock is what the controller remembers of one lock between reconciles.
type seenLock struct {
	phase string
	grant grant
}

// lockTracker keeps the locks gauge and the acquisition and renewal
// counters correct as locks change: it remembers each lock's last phase and
// grant (name → seenLock) and forgets a lock when it is deleted. Its size is
// the number of DistributedLocks, which the manager's cache holds anyway.
type lockTracker struct {
	metrics *lockMetrics

	mu    sync.Mutex
	locks map[types.NamespacedName]seenLock
	// perNamespace counts the locks of each namespace in locks: a
	// namespace's phase series exist while it has any.
	perNamespace map[string]int
}

func newLockTracker(m *lockMetrics) *lockTracker {
	return &lockTracker{metrics: m, locks: make(map[types.NamespacedName]seenLock), perNamespace: make(map[string]int)}
}

// see records the lock's phase and grant as of this reconcile and counts an
// acquisition or a renewal if the grant moved since the last one. A lock
// seen for the first time counts as an acquisition only if it was created
// held (generation 1): after a restart the controller cannot tell older
// grants from new ones, and does not count them.
func (t *lockTracker) see(name types.NamespacedName, generation int64, phase string, g grant) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, known := t.locks[name]
	switch {
	case !known:
		if g.holder != "" && generation == 1 {
			t.metrics.acquisitions.Inc()
		}
	case g.holder == "":
	case g.holder != old.grant.holder || g.fencingToken != old.grant.fencingToken:
		t.metrics.acquisitions.Inc()
	case g.renewTime != old.grant.renewTime:
		t.metrics.renewals.Inc()
	}
	if !known {
		if t.perNamespace[name.Namespace] == 0 {
			for _, p := range phases {
				t.metrics.locks.WithLabelValues(name.Namespace, p).Set(0)
			}
		}
		t.perNamespace[name.Namespace]++
	}
	if !known || old.phase != phase {
		if known {
			t.metrics.locks.WithLabelValues(name.Namespace, old.phase).Dec()
		}
		t.metrics.locks.WithLabelValues(name.Namespace, phase).Inc()
	}
	t.locks[name] = seenLock{phase: phase, grant: g}
}

// forget drops a deleted lock from the gauge, and the namespace's series
// with its last lock.
func (t *lockTracker) forget(name types.NamespacedName) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old, known := t.locks[name]
	if !known {
		return
	}
	delete(t.locks, name)
	if t.perNamespace[name.Namespace]--; t.perNamespace[name.Namespace] > 0 {
		t.metrics.locks.WithLabelValues(name.Namespace, old.phase).Dec()
		return
	}
	delete(t.perNamespace, name.Namespace)
	t.metrics.locks.DeletePartialMatch(prometheus.Labels{namespaceLabel: name.Namespace})
}

// grantOf extracts the grant from a lock's spec.
func grantOf(spec *locksv1alpha1.DistributedLockSpec) grant {
	g := grant{holder: spec.HolderIdentity, fencingToken: spec.FencingToken}
	if spec.RenewTime != nil {
		g.renewTime = spec.RenewTime.UnixMicro()
	}
	if spec.AcquireTime != nil {
		g.acquireTime = spec.AcquireTime.UnixMicro()
	}
	if spec.LeaseDurationSeconds != nil {
		g.leaseSeconds = *spec.LeaseDurationSeconds
	}
	return g
}

// reapEventsDropped counts reaps that recorded no Reaped Event because
// Events were over their limit (DistributedLockReconciler.ReapEvents).
var reapEventsDropped = func() prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "leasehold_distributedlock_reap_events_dropped_total",
		Help: "Reaps that recorded no Reaped Event because Events were over their limit " +
			"(--reap-event-qps, --reap-event-burst); each is still logged.",
	})
	metrics.Registry.MustRegister(c)
	return c
}()

// holdCollector exports, for each namespace with locks, its longest
// current hold: the age of the oldest grant among its Held locks (from
// spec.acquireTime to now, on the controller's clock), in seconds and in
// lease durations (the largest age / leaseDurationSeconds among them).
// A holder that renews forever shows here long after its lease; an
// expired lease does not (it counts in the locks gauge's Expired phase).
// Both are 0 in a namespace with no Held lock. One series per namespace,
// never per lock, and computed at scrape time from what the trackers
// remember, so the age grows between reconciles.
type holdCollector struct {
	seconds, leases *prometheus.Desc

	mu      sync.Mutex
	sources []holdSource
}

// holdSource is a reconciler's tracker and the clock it judges time by.
type holdSource struct {
	tracker *lockTracker
	clock   clock.PassiveClock
}

func newHoldCollector() *holdCollector {
	return &holdCollector{
		seconds: prometheus.NewDesc("leasehold_distributedlock_longest_hold_seconds",
			"Age in seconds of the oldest current grant (spec.acquireTime to now) among the Held DistributedLocks "+
				"of each namespace; 0 when none is held. A holder that renews forever makes it grow.",
			[]string{namespaceLabel}, nil),
		leases: prometheus.NewDesc("leasehold_distributedlock_longest_hold_leases",
			"The longest current hold among the Held DistributedLocks of each namespace, in lease durations "+
				"(the largest grant age / leaseDurationSeconds); 0 when none is held.",
			[]string{namespaceLabel}, nil),
	}
}

// add makes the collector report t's locks, judged by c.
func (h *holdCollector) add(t *lockTracker, c clock.PassiveClock) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sources = append(h.sources, holdSource{tracker: t, clock: c})
}

// Describe implements prometheus.Collector.
func (h *holdCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.seconds
	ch <- h.leases
}

// Collect implements prometheus.Collector.
func (h *holdCollector) Collect(ch chan<- prometheus.Metric) {
	h.mu.Lock()
	sources := slices.Clone(h.sources)
	h.mu.Unlock()
	type longest struct{ seconds, leases float64 }
	namespaces := make(map[string]longest)
	for _, s := range sources {
		now := s.clock.Now().UnixMicro()
		s.tracker.mu.Lock()
		for ns := range s.tracker.perNamespace {
			if _, ok := namespaces[ns]; !ok {
				namespaces[ns] = longest{}
			}
		}
		for name, l := range s.tracker.locks {
			if l.phase != phaseHeld || l.grant.acquireTime == 0 {
				continue
			}
			age := max(float64(now-l.grant.acquireTime)/1e6, 0)
			cur := namespaces[name.Namespace]
			cur.seconds = max(cur.seconds, age)
			if l.grant.leaseSeconds > 0 {
				cur.leases = max(cur.leases, age/float64(l.grant.leaseSeconds))
			}
			namespaces[name.Namespace] = cur
		}
		s.tracker.mu.Unlock()
	}
	for ns, l := range namespaces {
		ch <- prometheus.MustNewConstMetric(h.seconds, prometheus.GaugeValue, l.seconds, ns)
		ch <- prometheus.MustNewConstMetric(h.leases, prometheus.GaugeValue, l.leases, ns)
	}
}
