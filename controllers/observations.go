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

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// DefaultMaxObservations bounds the observation table by default: far more
// held locks than one controller is expected to watch.
const DefaultMaxObservations = 100000

// leaseVersion identifies one version of a lease record: its lock state
// identity (lease.Identity), which the controller's status writes leave
// alone.
type leaseVersion = lease.Identity

// observation is when the controller first saw a lease version.
type observation struct {
	version leaseVersion
	since   time.Time
}

// observationTable is the controller's table of first sightings (see
// package lease): for each held lock, the version of its lease record and
// when the controller first observed it, on the controller's clock. It
// holds held locks only (an entry is dropped when the lock is free, invalid
// or deleted) and at most max of them; when it is full, new leases are not
// observed, and the rule judges them by renewTime alone.
type observationTable struct {
	max int

	mu      sync.Mutex
	entries map[types.NamespacedName]observation
}

func newObservationTable(maxEntries int) *observationTable {
	return &observationTable{max: maxEntries, entries: make(map[types.NamespacedName]observation)}
}

// observe returns when the controller first saw version of the lease of
// name, recording now if this version is new to it. It returns the zero
// time if the table is full and name is not in it.
func (o *observationTable) observe(name types.NamespacedName, version leaseVersion, now time.Time) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	old, ok := o.entries[name]
	if ok && old.version == version {
		return old.since
	}
	if !ok && len(o.entries) >= o.max {
		return time.Time{}
	}
	o.entries[name] = observation{version: version, since: now}
	return now
}

// forget drops name: its lock is free, invalid or deleted.
func (o *observationTable) forget(name types.NamespacedName) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.entries, name)
}

// len is the number of leases observed.
func (o *observationTable) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.entries)
}

// sightingHandler enqueues DistributedLocks like
// handler.EnqueueRequestForObject, and first notes when the watch delivered
// each held lease version: that is when the controller observed it. Under
// load a reconcile may run much later, and starting the rule's wait for an
// unchanged lease only then would reap late.
type sightingHandler struct {
	handler.TypedEnqueueRequestForObject[client.Object]
	observations *observationTable
	clock        clock.PassiveClock
}

// Create implements handler.EventHandler.
func (h *sightingHandler) Create(ctx context.Context, e event.CreateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.sight(e.Object)
	h.TypedEnqueueRequestForObject.Create(ctx, e, q)
}

// Update implements handler.EventHandler.
func (h *sightingHandler) Update(ctx context.Context, e event.UpdateEvent, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	h.sight(e.ObjectNew)
	h.TypedEnqueueRequestForObject.Update(ctx, e, q)
}

// sight notes the lease version of a held lock; Reconcile forgets free ones.
func (h *sightingHandler) sight(obj client.Object) {
	lock, ok := obj.(*locksv1alpha1.DistributedLock)
	if !ok || lock.Spec.HolderIdentity == "" {
		return
	}
	h.observations.observe(client.ObjectKeyFromObject(lock), lease.IdentityOf(lock), h.clock.Now())
}
