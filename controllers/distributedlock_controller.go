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
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// Reasons of the Events the controller records on DistributedLocks.
const (
	// EventReasonExpired (Normal): the controller judged the lease expired.
	EventReasonExpired = "Expired"
	// EventReasonReaped (Normal): the controller reaped the expired lease.
	EventReasonReaped = "Reaped"
	// EventReasonInvalidSpec (Warning): the controller cannot interpret the
	// spec; it sets Valid=False and leaves the lock alone.
	EventReasonInvalidSpec = "InvalidSpec"
)

// ControllerName names the controller, its Event recorder and its metrics.
const ControllerName = "distributedlock-controller"

// DistributedLockReconciler sets the status of DistributedLocks and reaps
// their expired leases.
//
// Clock rule: Kubernetes has no server clock, so the reconciler judges
// expiry on its own Clock (see ExpiryRule). A held lease is expired once the
// reconciler has itself observed the same lease version (UID and
// generation) unchanged for a full leaseDurationSeconds, or once its clock
// is past renewTime + leaseDurationSeconds + ClockSkewAllowance, whichever
// comes first; it is reaped ReapGrace later. The observation table
// (lock name → lease version and when it was first seen) lives in the
// reconciler, holds at most MaxObservations held locks and drops a lock when
// it is free, invalid or deleted. Each held lock is requeued for the instant
// its verdict changes (RequeueAfter), never polled.
//
// Reaping is a write guarded by the resourceVersion the verdict was
// reached on (Update for reapPolicy Release, Delete with UID and
// resourceVersion preconditions for Delete), so a renewal that lands first
// makes the reaping write fail with a Conflict; the reconciler then waits
// for that write's watch event to judge the lock again.
type DistributedLockReconciler struct {
	client.Client
	// Recorder records the Expired, Reaped and InvalidSpec Events.
	// SetupWithManager defaults it to the manager's recorder.
	Recorder events.EventRecorder
	// Clock is the reconciler's clock; SetupWithManager defaults it to the
	// real clock. Tests inject a fake one.
	Clock clock.PassiveClock
	// Rule is the expiry rule. Its zero value trusts renewTime with no
	// skew allowance; the manager sets DefaultClockSkewAllowance (flag
	// --clock-skew-allowance).
	Rule ExpiryRule
	// MaxObservations bounds the observation table; 0 means
	// DefaultMaxObservations.
	MaxObservations int
	// MaxConcurrentReconciles is the number of locks reconciled in
	// parallel; 0 means controller-runtime's default (1).
	MaxConcurrentReconciles int

	initOnce     sync.Once
	metrics      *lockMetrics
	tracker      *lockTracker
	observations *observationTable
}

// init fills in the reconciler's internal state once.
func (r *DistributedLockReconciler) init() {
	r.initOnce.Do(func() {
		if r.Clock == nil {
			r.Clock = clock.RealClock{}
		}
		if r.MaxObservations <= 0 {
			r.MaxObservations = DefaultMaxObservations
		}
		if r.metrics == nil {
			r.metrics = defaultMetrics
		}
		r.tracker = newLockTracker(r.metrics)
		r.observations = newObservationTable(r.MaxObservations)
	})
}

// SetupWithManager registers the reconciler with mgr, watching
// DistributedLocks.
func (r *DistributedLockReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Rule.ClockSkewAllowance < 0 || r.Rule.ReapGrace < 0 {
		return fmt.Errorf("clock-skew allowance (%s) and reap grace (%s) must not be negative",
			r.Rule.ClockSkewAllowance, r.Rule.ReapGrace)
	}
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(ControllerName)
	}
	r.init()
	return ctrl.NewControllerManagedBy(mgr).
		Named("distributedlock").
		// Like For, but noting when each lease version was first seen.
		Watches(&locksv1alpha1.DistributedLock{}, &sightingHandler{observations: r.observations, clock: r.Clock}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile judges one lock: it validates the spec, decides the phase by the
// expiry rule, reaps an expired lease whose grace is over, patches the
// status once and requeues the lock for the instant its verdict changes.
func (r *DistributedLockReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.init()
	log := logf.FromContext(ctx)

	lock := &locksv1alpha1.DistributedLock{}
	if err := r.Get(ctx, req.NamespacedName, lock); err != nil {
		if apierrors.IsNotFound(err) {
			r.observations.forget(req.NamespacedName)
			r.tracker.forget(req.NamespacedName)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, fmt.Errorf("reading DistributedLock %s: %w", req.NamespacedName, err)
	}
	now := r.Clock.Now()
	before := lock.Status.DeepCopy()
	status := lock.Status.DeepCopy()

	if invalid := validateLock(&lock.Spec); invalid != nil {
		r.observations.forget(req.NamespacedName)
		r.tracker.see(req.NamespacedName, lock.Generation, phaseInvalid, grantOf(&lock.Spec))
		status.ObservedGeneration = lock.Generation
		status.Phase = ""
		status.ExpiresAt = nil
		r.setCondition(status, lock, locksv1alpha1.ConditionValid, metav1.ConditionFalse, locksv1alpha1.ReasonSpecInvalid, invalid.Error(), now)
		r.setCondition(status, lock, locksv1alpha1.ConditionHeld, metav1.ConditionUnknown, locksv1alpha1.ReasonSpecInvalid,
			"the controller cannot interpret the spec and leaves the lock alone", now)
		if c := meta.FindStatusCondition(before.Conditions, locksv1alpha1.ConditionValid); c == nil || c.Message != invalid.Error() {
			r.Recorder.Eventf(lock, nil, corev1.EventTypeWarning, EventReasonInvalidSpec, "Validate", "Invalid spec: %s", invalid)
		}
		if err := r.patchStatus(ctx, lock, before, status); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{}, reconcile.TerminalError(fmt.Errorf("DistributedLock %s: %w", req.NamespacedName, invalid))
	}
	var verdict Verdict
	if lock.Spec.HolderIdentity != "" {
		lease := Lease{
			RenewTime: lock.Spec.RenewTime.Time,
			Duration:  time.Duration(*lock.Spec.LeaseDurationSeconds) * time.Second,
			ObservedSince: r.observations.observe(req.NamespacedName,
				leaseVersion{uid: lock.UID, generation: lock.Generation}, now),
		}
		verdict = r.Rule.Judge(lease, now)
		// A lock being deleted (held back by someone's finalizer) is going
		// away already: reaping it again would count it twice.
		if verdict.Reap && lock.DeletionTimestamp.IsZero() {
			reaped, err := r.reap(ctx, lock, verdict.ExpiresAt, before.Phase == locksv1alpha1.PhaseExpired)
			if err != nil || !reaped {
				// Not reaped: a newer write of the lock exists, and its
				// watch event reconciles the lock again.
				return ctrl.Result{}, err
			}
			if lock.Spec.ReapPolicy == locksv1alpha1.ReapPolicyDelete {
				return ctrl.Result{}, nil // the delete event forgets the lock
			}
			verdict = Verdict{} // lock now holds the released object
		}
	}

	// After a Release reap, lock is the released object: its generation.
	status.ObservedGeneration = lock.Generation
	r.setCondition(status, lock, locksv1alpha1.ConditionValid, metav1.ConditionTrue, locksv1alpha1.ReasonSpecValid,
		"the spec is a valid lock record", now)
	switch {
	case lock.Spec.HolderIdentity == "":
		r.observations.forget(req.NamespacedName)
		status.Phase = locksv1alpha1.PhaseFree
		status.ExpiresAt = nil
		r.setCondition(status, lock, locksv1alpha1.ConditionHeld, metav1.ConditionFalse, locksv1alpha1.ReasonNoHolder,
			"no one holds the lock", now)
	case verdict.Expired:
		status.Phase = locksv1alpha1.PhaseExpired
		status.ExpiresAt = ptrMicro(verdict.ExpiresAt)
		r.setCondition(status, lock, locksv1alpha1.ConditionHeld, metav1.ConditionFalse, locksv1alpha1.ReasonLeaseExpired,
			fmt.Sprintf("the lease of %q expired", lock.Spec.HolderIdentity), now)
	default:
		status.Phase = locksv1alpha1.PhaseHeld
		status.ExpiresAt = ptrMicro(verdict.ExpiresAt)
		r.setCondition(status, lock, locksv1alpha1.ConditionHeld, metav1.ConditionTrue, locksv1alpha1.ReasonLeaseActive,
			fmt.Sprintf("held by %q", lock.Spec.HolderIdentity), now)
	}
	r.tracker.see(req.NamespacedName, lock.Generation, string(status.Phase), grantOf(&lock.Spec))
	if err := r.patchStatus(ctx, lock, before, status); err != nil {
		return ctrl.Result{}, err
	}
	if status.Phase == locksv1alpha1.PhaseExpired && before.Phase != locksv1alpha1.PhaseExpired {
		r.recordExpired(lock, verdict.ExpiresAt)
	}
	if verdict.Wait > 0 {
		log.V(1).Info("Requeued for the lease's expiry", "holder", lock.Spec.HolderIdentity, "after", verdict.Wait)
	}
	return ctrl.Result{RequeueAfter: verdict.Wait}, nil
}

// recordExpired records the Expired Event.
func (r *DistributedLockReconciler) recordExpired(lock *locksv1alpha1.DistributedLock, expiresAt time.Time) {
	r.Recorder.Eventf(lock, nil, corev1.EventTypeNormal, EventReasonExpired, "Judge",
		"The lease expired (expiresAt %s)", expiresAt.UTC().Format(time.RFC3339Nano))
}

// setCondition sets one condition in status, stamping transitions with the
// reconciler's clock.
func (r *DistributedLockReconciler) setCondition(status *locksv1alpha1.DistributedLockStatus, lock *locksv1alpha1.DistributedLock,
	conditionType string, value metav1.ConditionStatus, reason, message string, now time.Time) {
	meta.SetStatusCondition(&status.Conditions, metav1.Condition{
		Type:               conditionType,
		Status:             value,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: lock.Generation,
		LastTransitionTime: metav1.NewTime(now),
	})
}

// patchStatus writes status if it differs from before. The status belongs
// to the controller alone, so a merge patch without a resourceVersion is
// safe, and does not conflict with the holders' spec writes.
func (r *DistributedLockReconciler) patchStatus(ctx context.Context, lock *locksv1alpha1.DistributedLock,
	before, status *locksv1alpha1.DistributedLockStatus) error {
	if equality.Semantic.DeepEqual(before, status) {
		return nil
	}
	original := lock.DeepCopy()
	original.Status = *before
	lock.Status = *status
	if err := r.Status().Patch(ctx, lock, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; its delete event forgets it
		}
		return fmt.Errorf("patching the status of DistributedLock %s: %w", client.ObjectKeyFromObject(lock), err)
	}
	return nil
}

func ptrMicro(t time.Time) *metav1.MicroTime {
	m := metav1.NewMicroTime(t)
	return &m
}

// Compile-time assertion: the reconciler is a reconcile.Reconciler.
var _ reconcile.Reconciler = &DistributedLockReconciler{}
