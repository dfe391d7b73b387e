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
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// EventReasonPodGone (Normal): the controller freed a lock because its
// holder's Pod (spec.holderPod) is gone.
const EventReasonPodGone = "PodGone"

// holderPodIndex indexes the cached DistributedLocks that are held and
// bound to a Pod by that Pod's name (their namespace is the Pod's).
const holderPodIndex = "spec.holderPod.name"

// maxFreeAttempts bounds the guarded writes that free one lock whose
// object keeps changing (renewals of the gone holder still in flight).
const maxFreeAttempts = 4

// Why a bound lock's Pod counts as gone (the Event says which).
const (
	podNotFound  = "it no longer exists"
	podReplaced  = "a Pod of the same name with another UID replaced it"
	podSucceeded = "it finished (phase Succeeded)"
	podFailed    = "it finished (phase Failed)"
)

// setupPodBinding registers the controller that frees locks whose holder's
// Pod is gone. It is keyed by Pod: a request names a Pod that bound locks
// name.
//
// Cost: it watches Pods' metadata only (a metadata informer: no spec or
// status crosses the wire or stays in memory, and CacheTransform strips
// the metadata it keeps down to what the watch needs), and it reads a Pod
// from the API server (one GET) only when a Pod that held locks name
// changes, or when a lock is bound to a Pod it has not checked yet: a
// renewal costs nothing.
func (r *DistributedLockReconciler) setupPodBinding(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	err := mgr.GetFieldIndexer().IndexField(context.Background(), &locksv1alpha1.DistributedLock{}, holderPodIndex,
		func(obj client.Object) []string {
			lock := obj.(*locksv1alpha1.DistributedLock)
			if !bound(lock) {
				return nil
			}
			return []string{lock.Spec.HolderPod.Name}
		})
	if err != nil {
		return fmt.Errorf("indexing DistributedLocks by holder Pod: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("distributedlock-podbinding").
		WatchesMetadata(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(r.podWithLocks)).
		Watches(&locksv1alpha1.DistributedLock{}, handler.EnqueueRequestsFromMapFunc(boundPod),
			builder.WithPredicates(bindingChanged())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(reconcile.Func(r.reconcilePod))
}

// bound reports whether lock is held and bound to a Pod.
func bound(lock *locksv1alpha1.DistributedLock) bool {
	return lock.Spec.HolderIdentity != "" && lock.Spec.HolderPod != nil
}

// podWithLocks maps a Pod's event to a request for that Pod when cached
// locks are bound to it; every other Pod's events end here, in memory.
func (r *DistributedLockReconciler) podWithLocks(ctx context.Context, pod client.Object) []reconcile.Request {
	var locks locksv1alpha1.DistributedLockList
	if err := r.List(ctx, &locks, client.InNamespace(pod.GetNamespace()),
		client.MatchingFields{holderPodIndex: pod.GetName()}); err != nil || len(locks.Items) == 0 {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: pod.GetNamespace(), Name: pod.GetName()}}}
}

// boundPod maps a lock to a request for the Pod it is bound to.
func boundPod(_ context.Context, obj client.Object) []reconcile.Request {
	lock, ok := obj.(*locksv1alpha1.DistributedLock)
	if !ok || !bound(lock) {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: lock.Namespace, Name: lock.Spec.HolderPod.Name}}}
}

// bindingChanged passes a lock's events when its binding may need a check:
// a lock first seen (created, or listed as the controller starts) and a
// change of holder or Pod. Renewals, status writes and deletions pass
// nothing, so that they cost no Pod read.
func bindingChanged() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return true },
		UpdateFunc: func(e event.UpdateEvent) bool {
			oldLock, ok1 := e.ObjectOld.(*locksv1alpha1.DistributedLock)
			newLock, ok2 := e.ObjectNew.(*locksv1alpha1.DistributedLock)
			if !ok1 || !ok2 {
				return false
			}
			o, n := oldLock.Spec, newLock.Spec
			return o.HolderIdentity != n.HolderIdentity || o.FencingToken != n.FencingToken ||
				(o.HolderPod == nil) != (n.HolderPod == nil) || (o.HolderPod != nil && *o.HolderPod != *n.HolderPod)
		},
		DeleteFunc:  func(event.DeleteEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
	}
}

// reconcilePod frees the locks bound to the Pod req names once that Pod is
// gone. The Pod is read from the API server (a quorum read), never from a
// cache that may lag: a Pod is gone when the read finds none (deleted, or
// never created: a holder runs inside its Pod, so the Pod existed before
// the grant, and a Pod reference that never existed can only be a wrong
// one), when its UID is not the one the lock names (replaced), or when its
// phase is Succeeded or Failed (its containers have stopped for good). A
// Pod being deleted (deletionTimestamp set) or on a Node that is NotReady
// is not gone: its containers may still run, and the lease decides.
func (r *DistributedLockReconciler) reconcilePod(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	r.init()
	var locks locksv1alpha1.DistributedLockList
	if err := r.List(ctx, &locks, client.InNamespace(req.Namespace),
		client.MatchingFields{holderPodIndex: req.Name}); err != nil {
		return reconcile.Result{}, fmt.Errorf("listing the locks bound to Pod %s: %w", req.NamespacedName, err)
	}
	if len(locks.Items) == 0 {
		return reconcile.Result{}, nil
	}
	pod := &corev1.Pod{}
	if err := r.APIReader.Get(ctx, req.NamespacedName, pod); apierrors.IsNotFound(err) {
		pod = nil
	} else if err != nil {
		return reconcile.Result{}, fmt.Errorf("reading Pod %s: %w", req.NamespacedName, err)
	}
	for i := range locks.Items {
		lock := &locks.Items[i]
		why := podGone(pod, lock.Spec.HolderPod)
		if why == "" || !lock.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.freeForPod(ctx, lock, why); err != nil {
			return reconcile.Result{}, err
		}
	}
	return reconcile.Result{}, nil
}

// podGone says why the Pod bound names is gone, given what the API server
// returned for its name (nil: no such Pod), or "" while it may still run.
func podGone(pod *corev1.Pod, bound *locksv1alpha1.HolderPod) string {
	switch {
	case bound == nil:
		return ""
	case pod == nil:
		return podNotFound
	case string(pod.UID) != bound.UID:
		return podReplaced
	case pod.Status.Phase == corev1.PodSucceeded:
		return podSucceeded
	case pod.Status.Phase == corev1.PodFailed:
		return podFailed
	}
	return ""
}

// freeForPod ends the lease of lock, whose Pod is gone, with the reaper's
// guarded write (endLease): the fencing token stays, so the next holder's
// is greater. A conflict means the object moved on (often a renewal the
// gone holder sent before it went); the lock is read again from the API
// server and freed only while it still names the same holder, fencing
// token and Pod. It records at most one PodGone Event, under the reaper's
// Event limit, and counts the write in reaps_total with reason PodGone.
func (r *DistributedLockReconciler) freeForPod(ctx context.Context, lock *locksv1alpha1.DistributedLock, why string) error {
	log := logf.FromContext(ctx).WithValues("distributedLock", client.ObjectKeyFromObject(lock))
	holder, token, pod := lock.Spec.HolderIdentity, lock.Spec.FencingToken, *lock.Spec.HolderPod
	for attempt := 1; ; attempt++ {
		released, policy, err := r.endLease(ctx, lock)
		switch {
		case err == nil:
			r.metrics.reaps.WithLabelValues(string(policy), reapReasonPodGone).Inc()
			log.Info("Freed a lock whose holder's Pod is gone", "holder", holder, "pod", pod.Name, "podUID", pod.UID,
				"why", why, "reapPolicy", policy)
			r.recordReap(lock, released, EventReasonPodGone,
				"Freed the lock of %q (reapPolicy %s, fencing token %d): its Pod %s (uid %s) is gone: %s",
				holder, policy, token, pod.Name, pod.UID, why)
			return nil
		case apierrors.IsNotFound(err):
			return nil // deleted meanwhile
		case !apierrors.IsConflict(err):
			return fmt.Errorf("freeing the lock of %q, whose Pod %s is gone: %w", holder, pod.Name, err)
		case attempt == maxFreeAttempts:
			return fmt.Errorf("freeing the lock of %q, whose Pod %s is gone: the object kept changing: %w", holder, pod.Name, err)
		}
		fresh := &locksv1alpha1.DistributedLock{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(lock), fresh); apierrors.IsNotFound(err) {
			return nil
		} else if err != nil {
			return fmt.Errorf("reading DistributedLock %s: %w", client.ObjectKeyFromObject(lock), err)
		}
		if fresh.Spec.HolderIdentity != holder || fresh.Spec.FencingToken != token ||
			fresh.Spec.HolderPod == nil || *fresh.Spec.HolderPod != pod {
			log.V(1).Info("Lock changed hands before it could be freed", "holder", holder)
			return nil
		}
		lock = fresh
	}
}

// CacheTransform is the manager cache's transform: it drops managedFields
// from every object (the controller never reads them, and they are often
// larger than a lock), and keeps of a Pod's metadata (the Pod binding's
// metadata-only watch) only its name, namespace, UID, resourceVersion and
// deletion timestamp: a few hundred bytes per Pod, whatever its labels
// and annotations.
func CacheTransform() func(any) (any, error) {
	return func(obj any) (any, error) {
		switch o := obj.(type) {
		case *metav1.PartialObjectMetadata:
			o.ObjectMeta = metav1.ObjectMeta{
				Name:              o.Name,
				Namespace:         o.Namespace,
				UID:               o.UID,
				ResourceVersion:   o.ResourceVersion,
				DeletionTimestamp: o.DeletionTimestamp,
			}
		case metav1.Object:
			o.SetManagedFields(nil)
		}
		return obj, nil
	}
}
