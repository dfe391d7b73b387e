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
	"context"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"golang.org/x/time/rate"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// The suite's manager runs the DistributedLock reconciler against envtest
// with the real clock (leases of 1-2 s); the expiry maths has its own unit
// tests with a fake clock.
var (
	reconciler   *DistributedLockReconciler
	recorded     *countingRecorder
	statusWrites *statusCounter
	managerDone  chan struct{}
)

// reconciledLabels mark the locks the suite's controller watches.
var reconciledLabels = map[string]string{"test.leasehold.dev/reconciled": "true"}

// startManager starts a manager running the reconciler; BeforeSuite calls
// it. The manager stops when the suite's ctx is cancelled.
func startManager() {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: scheme.Scheme,
		// The API validation specs update objects they read earlier and
		// would see the controller's status writes as conflicts: the
		// controller watches only the objects of its own specs.
		Cache: cache.Options{
			ByObject: map[client.Object]cache.ByObject{
				// Trimmed as cmd/manager's cache trims them, so that every
				// spec runs on what the deployed controller reads.
				&locksv1alpha1.DistributedLock{}: {Label: labels.SelectorFromSet(reconciledLabels), Transform: TrimCachedLock},
			},
			DefaultTransform: CacheTransform(), // as the manager's
		},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	Expect(err).NotTo(HaveOccurred())
	recorded = newCountingRecorder(mgr.GetEventRecorder(ControllerName), clock.RealClock{})
	statusWrites = &statusCounter{Client: mgr.GetClient(), writes: make(map[types.NamespacedName]int)}
	reconciler = &DistributedLockReconciler{
		Client:   statusWrites,
		Recorder: recorded,
		Clock:    clock.RealClock{},
		Rule:     ExpiryRule{ClockSkewAllowance: DefaultClockSkewAllowance},
		// The manager's default (--max-concurrent-reconciles).
		MaxConcurrentReconciles: 8,
		// Every reap's Event: the specs count them per lock. (The limit
		// has a spec of its own, in reaper_test.go.)
		ReapEvents: rate.NewLimiter(rate.Inf, 0),
	}
	Expect(reconciler.SetupWithManager(mgr)).To(Succeed())
	managerDone = make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(managerDone)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
}

// stopManager waits for the manager to stop after the suite's ctx was
// cancelled; AfterSuite calls it before stopping envtest.
func stopManager() {
	if managerDone != nil {
		Eventually(managerDone, timeout).Should(BeClosed())
	}
}

// recordedEvent is one Event the reconciler recorded, with the instant it did.
type recordedEvent struct {
	reason string
	at     time.Time
}

// countingRecorder passes Events on to the manager's recorder and keeps
// every Event's reason and instant by object, so that specs can count
// reaps exactly: the API server's events may be aggregated into series.
type countingRecorder struct {
	next  events.EventRecorder
	clock clock.PassiveClock

	mu     sync.Mutex
	events map[types.NamespacedName][]recordedEvent
}

func newCountingRecorder(next events.EventRecorder, clk clock.PassiveClock) *countingRecorder {
	return &countingRecorder{next: next, clock: clk, events: make(map[types.NamespacedName][]recordedEvent)}
}

// Eventf implements events.EventRecorder.
func (c *countingRecorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	if obj, ok := regarding.(client.Object); ok {
		c.mu.Lock()
		name := client.ObjectKeyFromObject(obj)
		c.events[name] = append(c.events[name], recordedEvent{reason: reason, at: c.clock.Now()})
		c.mu.Unlock()
	}
	c.next.Eventf(regarding, related, eventtype, reason, action, note, args...)
}

// count returns how many Events with reason were recorded for name.
func (c *countingRecorder) count(name types.NamespacedName, reason string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.events[name] {
		if e.reason == reason {
			n++
		}
	}
	return n
}

// first returns when the first Event with reason was recorded for name.
func (c *countingRecorder) first(name types.NamespacedName, reason string) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.events[name] {
		if e.reason == reason {
			return e.at, true
		}
	}
	return time.Time{}, false
}

var _ events.EventRecorder = &countingRecorder{}

// statusCounter is the reconciler's client, counting its status writes by
// object.
type statusCounter struct {
	client.Client

	mu     sync.Mutex
	writes map[types.NamespacedName]int
}

// Status implements client.Client.
func (c *statusCounter) Status() client.SubResourceWriter {
	return &countedStatusWriter{SubResourceWriter: c.Client.Status(), c: c}
}

// count returns how many status writes the reconciler sent for name.
func (c *statusCounter) count(name types.NamespacedName) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes[name]
}

func (c *statusCounter) add(obj client.Object) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes[client.ObjectKeyFromObject(obj)]++
}

type countedStatusWriter struct {
	client.SubResourceWriter
	c *statusCounter
}

func (w *countedStatusWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	w.c.add(obj)
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

func (w *countedStatusWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	w.c.add(obj)
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// reconcileErrors is controller-runtime's count of the reconciler's
// errors (controller_runtime_reconcile_errors_total).
func reconcileErrors() float64 {
	families, err := ctrlmetrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_errors_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "distributedlock" {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
