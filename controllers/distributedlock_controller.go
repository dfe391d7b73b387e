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

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// Reasons of the Events the controller records on DistributedLocks: at
// most one per reaped lease, and one per invalid spec.
const (
	// EventReasonReaped (Normal): the controller reaped an expired lease.
	EventReasonReaped = "Reaped"
	// EventReasonInvalidSpec (Warning): the controller cannot interpret the
	// spec; it sets phase Invalid and Valid=False and leaves the lock alone.
	EventReasonInvalidSpec = "InvalidSpec"
)

// ControllerName names the controller, its Event recorder and its metrics.
const ControllerName = "distributedlock-controller"

// DistributedLockReconciler sets the status of DistributedLocks and reaps
// their expired leases.
//
// It judges expiry by Rule (the rule of package [lease] plus the reap
// grace) on its own Clock, and requeues each held lock for the instant its
// verdict changes (RequeueAfter), never polling. A reap that loses to a
// renewal fails with a Conflict (see the package documentation), and that
// renewal's watch event makes the reconciler judge the lock again.
type DistributedLockReconciler struct {
	client.Client
	// Recorder records the Reaped, PodGone and InvalidSpec Events.
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
	// ReapEvents bounds the rate of Reaped Events (see reap); nil means
	// DefaultReapEventQPS with a burst of DefaultReapEventBurst, and
	// rate.NewLimiter(rate.Inf, 0) records one for every reap.
	ReapEvents *rate.Limiter
	// DisablePodBinding turns off freeing locks whose holder's Pod is gone
	// (spec.holderPod; the manager's --pod-binding=false): those locks then
	// wait for their lease like any other, and Pods are not watched.
	DisablePodBinding bool
	// APIReader reads Pods (and locks, after a conflict while freeing one)
	// from the API server; SetupWithManager defaults it to the manager's.
	APIReader client.Reader

	initOnce     sync.Once
	startOnce    sync.Once
	startedAt    time.Time // the first Reconcile, on Clock; see reap
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
		if r.ReapEvents == nil {
			r.ReapEvents = rate.NewLimiter(DefaultReapEventQPS, DefaultReapEventBurst)
		}
		r.tracker = newLockTracker(r.metrics)
		r.metrics.holds.add(r.tracker, r.Clock)
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
	if !r.DisablePodBinding {
		if err := r.setupPodBinding(mgr); err != nil {
			return err
		}
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("distributedlock").
		// Like For, but noting when each lease version was first seen.
		Watches(&locksv1alpha1.DistributedLock{}, &sightingHandler{observations: r.observations, clock: r.Clock}).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// Reconcile judges one lock: it validates the spec, decides by the expiry
// rule whether the lease expired, reaps an expired lease whose grace is
// over, writes the status desiredStatus computes from the outcome (one
// patch at most, on every path), and requeues the lock for the instant its
// verdict changes.
//
// Status is written only when it changes, and it changes only for what an
// operator acts on: a spec the controller cannot interpret (phase Invalid,
// Valid=False) and an expired lease left in place (phase Expired, while
// --reap-grace runs or after a reap failed). A grant, a renewal or a
// release changes nothing the controller writes, so the holders' guarded
// updates never race a status write, and an abandoned lease costs two
// writes at most: the reap and its Event.
func (r *DistributedLockReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	r.init()
	r.startOnce.Do(func() { r.startedAt = r.Clock.Now() })
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

	// An invalid spec is not a reconcile error: retrying cannot help, and
	// the person who wrote the object learns of it from the Event and the
	// status. The controller leaves such a lock alone.
	invalid := validateLock(lock)
	var verdict Verdict
	if invalid == nil && lock.Spec.HolderIdentity != "" {
		var err error
		lock, verdict, err = r.judgeAndReap(ctx, req.NamespacedName, lock, now)
		if lock == nil {
			return ctrl.Result{}, err
		}
	}

	phase := gaugePhase(lock, invalid, verdict)
	if phase == phaseFree || phase == phaseInvalid {
		r.observations.forget(req.NamespacedName)
	}
	r.tracker.see(req.NamespacedName, lock.Generation, phase, grantOf(&lock.Spec))
	if invalid != nil {
		r.reportInvalid(ctx, lock, before, invalid)
	}
	if err := r.patchStatus(ctx, lock, before, desiredStatus(lock, invalid, verdict, before, now)); err != nil {
		return ctrl.Result{}, err
	}
	if verdict.Wait > 0 {
		logf.FromContext(ctx).V(1).Info("Requeued for the lease's expiry", "holder", lock.Spec.HolderIdentity, "after", verdict.Wait)
	}
	return ctrl.Result{RequeueAfter: verdict.Wait}, nil
}

// judgeAndReap judges the lease of lock, a valid held lock, at now, and
// reaps it once its reap grace is over. It returns the lock whose status
// Reconcile writes and the verdict on its lease: lock and its verdict, or
// after a Release reap the released object and the zero verdict (it is
// free). It returns a nil lock, and no status is written, when the reap
// failed (the error), lost to a newer write (whose watch event reconciles
// the lock again) or deleted the lock (whose delete event forgets it).
func (r *DistributedLockReconciler) judgeAndReap(ctx context.Context, key types.NamespacedName,
	lock *locksv1alpha1.DistributedLock, now time.Time) (*locksv1alpha1.DistributedLock, Verdict, error) {
	since := r.observations.observe(key, lease.IdentityOf(lock), now)
	verdict := r.Rule.Judge(lease.Of(lock, since), now)
	// A lock being deleted (held back by someone's finalizer) is going
	// away already: reaping it again would count it twice.
	if !verdict.Reap || !lock.DeletionTimestamp.IsZero() {
		return lock, verdict, nil
	}
	released, reaped, err := r.reap(ctx, lock, verdict.ExpiresAt)
	if !reaped || released == nil {
		return nil, Verdict{}, err
	}
	return released, Verdict{}, nil
}

// gaugePhase is the phase the locks gauge counts lock in, given what
// validateLock said of it and the verdict on its lease.
func gaugePhase(lock *locksv1alpha1.DistributedLock, invalid error, verdict Verdict) string {
	switch {
	case invalid != nil:
		return phaseInvalid
	case lock.Spec.HolderIdentity == "":
		return phaseFree
	case verdict.Expired:
		return string(locksv1alpha1.PhaseExpired)
	}
	return phaseHeld
}

// reportInvalid logs an invalid spec and records an InvalidSpec Warning
// Event, once per distinct problem: not when the status before already
// says the same.
func (r *DistributedLockReconciler) reportInvalid(ctx context.Context, lock *locksv1alpha1.DistributedLock,
	before *locksv1alpha1.DistributedLockStatus, invalid error) {
	if c := meta.FindStatusCondition(before.Conditions, locksv1alpha1.ConditionValid); c != nil && c.Message == invalid.Error() {
		return
	}
	logf.FromContext(ctx).Info("Invalid lock spec left alone", "reason", invalid.Error())
	r.Recorder.Eventf(lock, nil, corev1.EventTypeWarning, EventReasonInvalidSpec, "Validate", "Invalid spec: %s", invalid)
}

// desiredStatus is the status lock should have, given what validateLock
// said of it (invalid), the verdict on its lease (zero for a free lock),
// its status before and the instant now, which stamps the conditions'
// transitions. A spec the controller cannot interpret has phase Invalid
// and Valid=False; an expired lease awaiting its reap has phase Expired and
// Held=False; both keep before's other conditions. A free lock and a live
// lease have the empty status.
func desiredStatus(lock *locksv1alpha1.DistributedLock, invalid error, verdict Verdict,
	before *locksv1alpha1.DistributedLockStatus, now time.Time) *locksv1alpha1.DistributedLockStatus {
	switch {
	case invalid != nil:
		status := &locksv1alpha1.DistributedLockStatus{Phase: locksv1alpha1.PhaseInvalid, ObservedGeneration: lock.Generation,
			Conditions: before.Conditions}
		meta.RemoveStatusCondition(&status.Conditions, locksv1alpha1.ConditionHeld)
		setCondition(status, lock, locksv1alpha1.ConditionValid, metav1.ConditionFalse, locksv1alpha1.ReasonSpecInvalid, invalid.Error(), now)
		return status
	case verdict.Expired:
		status := &locksv1alpha1.DistributedLockStatus{Phase: locksv1alpha1.PhaseExpired, ObservedGeneration: lock.Generation,
			Conditions: before.Conditions}
		meta.RemoveStatusCondition(&status.Conditions, locksv1alpha1.ConditionValid)
		setCondition(status, lock, locksv1alpha1.ConditionHeld, metav1.ConditionFalse, locksv1alpha1.ReasonLeaseExpired,
			fmt.Sprintf("the lease expired at %s and awaits reaping", verdict.ExpiresAt.UTC().Format(time.RFC3339Nano)), now)
		return status
	}
	return &locksv1alpha1.DistributedLockStatus{}
}

// setCondition sets one condition in status, stamping a transition with
// now, the reconciler's clock.
func setCondition(status *locksv1alpha1.DistributedLockStatus, lock *locksv1alpha1.DistributedLock,
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
// safe. It moves the object's resourceVersion on, so a holder's next guarded
// update conflicts once (and the backend retries after a read): the reason
// status is written only when an operator needs to see something.
func (r *DistributedLockReconciler) patchStatus(ctx context.Context, lock *locksv1alpha1.DistributedLock,
	before, status *locksv1alpha1.DistributedLockStatus) error {
	if equality.Semantic.DeepEqual(before, status) ||
		(before.Phase == "" && before.ObservedGeneration == 0 && len(before.Conditions) == 0 &&
			status.Phase == "" && len(status.Conditions) == 0) {
		return nil
	}
	original := lock.DeepCopy()
	original.Status = *before
	lock.Status = *status
	if err := r.Status().Patch(ctx, lock, client.MergeFrom(original)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // deleted meanwhile; its delete event forgets it
		}
		if apierrors.IsInvalid(err) {
			// An object the schema refuses as it stands (one written under
			// an older CRD): no status can be written until its writer
			// fixes it, and retrying will not help. The Event says why.
			logf.FromContext(ctx).Info("Status write refused by the schema", "reason", err.Error())
			return nil
		}
		return fmt.Errorf("patching the status of DistributedLock %s: %w", client.ObjectKeyFromObject(lock), err)
	}
	return nil
}

// Compile-time assertion: the reconciler is a reconcile.Reconciler.
var _ reconcile.Reconciler = &DistributedLockReconciler{}
