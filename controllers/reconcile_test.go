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
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// These tests drive Reconcile with a fake client and a fake clock, to pin
// down the instants it requeues for; the envtest specs run it for real.

var unitKey = types.NamespacedName{Namespace: "default", Name: kubernetes.ObjectName("jobs:nightly")}

func newUnitReconciler(t *testing.T, clk *clocktesting.FakeClock, lock *locksv1alpha1.DistributedLock, funcs interceptor.Funcs) (*DistributedLockReconciler, *events.FakeRecorder) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := locksv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(lock).
		WithStatusSubresource(&locksv1alpha1.DistributedLock{}).WithInterceptorFuncs(funcs).Build()
	rec := events.NewFakeRecorder(16)
	return &DistributedLockReconciler{
		Client:   c,
		Recorder: rec,
		Clock:    clk,
		Rule:     ExpiryRule{ClockSkewAllowance: DefaultClockSkewAllowance},
		metrics:  newLockMetrics(prometheus.NewRegistry()),
	}, rec
}

func unitLock(renewTime time.Time, policy locksv1alpha1.ReapPolicy) *locksv1alpha1.DistributedLock {
	rt := metav1.NewMicroTime(renewTime)
	return &locksv1alpha1.DistributedLock{
		ObjectMeta: metav1.ObjectMeta{Namespace: unitKey.Namespace, Name: unitKey.Name, UID: "uid-1", Generation: 1},
		Spec: locksv1alpha1.DistributedLockSpec{
			Key: "jobs:nightly", HolderIdentity: "worker-1", LeaseDurationSeconds: ptr.To[int32](10),
			AcquireTime: &rt, RenewTime: &rt, FencingToken: 4, LeaseTransitions: 2, ReapPolicy: policy,
			Metadata: map[string]string{"host": "node-1"},
		},
	}
}

func drain(rec *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-rec.Events:
			got = append(got, strings.Fields(e)[1]) // "Normal Reaped ..." → reason
		default:
			return got
		}
	}
}

func reconcileOnce(t *testing.T, r *DistributedLockReconciler) (ctrl.Result, *locksv1alpha1.DistributedLock, error) {
	t.Helper()
	res, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: unitKey})
	lock := &locksv1alpha1.DistributedLock{}
	if getErr := r.Get(context.Background(), unitKey, lock); getErr != nil {
		lock = nil
	}
	return res, lock, err
}

func TestReconcileRequeuesAtExpiryThenReleases(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0.Add(200 * time.Millisecond)) // the watch delivered it 200 ms later
	r, rec := newUnitReconciler(t, clk, unitLock(t0, ""), interceptor.Funcs{})

	res, lock, err := reconcileOnce(t, r)
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	// Rule (a): a full lease after the controller first saw the version.
	if diff := cmp.Diff(ctrl.Result{RequeueAfter: 10 * time.Second}, res); diff != "" {
		t.Errorf("first Reconcile result (-want +got):\n%s", diff)
	}
	// A held lease is no news: no status.
	if diff := cmp.Diff(locksv1alpha1.DistributedLockStatus{}, lock.Status); diff != "" {
		t.Errorf("status of a held lock (-want +got):\n%s", diff)
	}

	clk.Step(10*time.Second - time.Millisecond)
	if res, _, err = reconcileOnce(t, r); err != nil || res.RequeueAfter != time.Millisecond {
		t.Errorf("Reconcile 1 ms before expiry = %+v, %v; want RequeueAfter 1ms", res, err)
	}

	clk.Step(time.Millisecond)
	res, lock, err = reconcileOnce(t, r)
	if err != nil {
		t.Fatalf("Reconcile at expiry: %v", err)
	}
	if diff := cmp.Diff(ctrl.Result{}, res); diff != "" {
		t.Errorf("Reconcile at expiry result (-want +got):\n%s", diff)
	}
	wantSpec := locksv1alpha1.DistributedLockSpec{Key: "jobs:nightly", FencingToken: 4, LeaseTransitions: 2}
	if diff := cmp.Diff(wantSpec, lock.Spec); diff != "" {
		t.Errorf("released spec (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(locksv1alpha1.DistributedLockStatus{}, lock.Status); diff != "" {
		t.Errorf("status of the reaped lock (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{EventReasonReaped}, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if got := testutil.ToFloat64(r.metrics.reaps.WithLabelValues("Release", reapReasonLeaseExpired)); got != 1 {
		t.Errorf("reaps{Release} = %v, want 1", got)
	}
	// It expired while the reconciler ran: one sample.
	if got := reapDelaySamples(t, r); got != 1 {
		t.Errorf("reap delay samples = %d, want 1", got)
	}
}

// TestReconcileReapDelayLeavesOutLeasesExpiredBeforeStart: a lease that
// expired long before the reconciler started (make dev's samples, a lock
// left over downtime) is reaped and counted, but its delay, which measures
// the downtime, is not observed; one that expires afterwards is.
func TestReconcileReapDelayLeavesOutLeasesExpiredBeforeStart(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0.Add(194 * time.Hour))
	r, _ := newUnitReconciler(t, clk, unitLock(t0, ""), interceptor.Funcs{})

	if _, lock, err := reconcileOnce(t, r); err != nil || lock.Spec.HolderIdentity != "" {
		t.Fatalf("Reconcile of a lease expired 194 h ago = %v, holder %q; want it reaped", err, lock.Spec.HolderIdentity)
	}
	if got := testutil.ToFloat64(r.metrics.reaps.WithLabelValues("Release", reapReasonLeaseExpired)); got != 1 {
		t.Errorf("reaps{Release} = %v, want 1", got)
	}
	if got := reapDelaySamples(t, r); got != 0 {
		t.Errorf("reap delay samples = %d, want 0 for a lease that expired before the reconciler started", got)
	}

	// Granted again now, with a 10 s lease: it expires while the
	// reconciler runs, and its delay is observed.
	lock := &locksv1alpha1.DistributedLock{}
	if err := r.Get(context.Background(), unitKey, lock); err != nil {
		t.Fatal(err)
	}
	now := metav1.NewMicroTime(clk.Now())
	lock.Spec.HolderIdentity, lock.Spec.AcquireTime, lock.Spec.RenewTime = "worker-2", &now, &now
	lock.Spec.LeaseDurationSeconds, lock.Spec.FencingToken = ptr.To[int32](10), lock.Spec.FencingToken+1
	if err := r.Update(context.Background(), lock); err != nil {
		t.Fatal(err)
	}
	if _, _, err := reconcileOnce(t, r); err != nil {
		t.Fatal(err)
	}
	clk.Step(10*time.Second + DefaultClockSkewAllowance)
	if _, lock, err := reconcileOnce(t, r); err != nil || lock.Spec.HolderIdentity != "" {
		t.Fatalf("Reconcile at expiry = %v, holder %q; want it reaped", err, lock.Spec.HolderIdentity)
	}
	if got := reapDelaySamples(t, r); got != 1 {
		t.Errorf("reap delay samples = %d, want 1", got)
	}
}

// reapDelaySamples is the reap-delay histogram's sample count.
func reapDelaySamples(t *testing.T, r *DistributedLockReconciler) uint64 {
	t.Helper()
	var m dto.Metric
	if err := r.metrics.reapDelay.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestReconcileReapGraceKeepsPhaseExpired(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	r, rec := newUnitReconciler(t, clk, unitLock(t0, locksv1alpha1.ReapPolicyDelete), interceptor.Funcs{})
	r.Rule.ReapGrace = 5 * time.Second
	if _, _, err := reconcileOnce(t, r); err != nil {
		t.Fatal(err)
	}
	clk.Step(12 * time.Second)
	res, lock, err := reconcileOnce(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if res.RequeueAfter != 3*time.Second || lock.Status.Phase != locksv1alpha1.PhaseExpired {
		t.Errorf("within the grace: %+v, phase %s; want RequeueAfter 3s, phase Expired", res, lock.Status.Phase)
	}
	c := meta.FindStatusCondition(lock.Status.Conditions, locksv1alpha1.ConditionHeld)
	if c == nil || c.Reason != locksv1alpha1.ReasonLeaseExpired {
		t.Errorf("Held condition = %+v, want reason %s", c, locksv1alpha1.ReasonLeaseExpired)
	}
	clk.Step(3 * time.Second)
	if _, lock, err = reconcileOnce(t, r); err != nil || lock != nil {
		t.Errorf("after the grace: lock %v, err %v; want it deleted", lock, err)
	}
	if diff := cmp.Diff([]string{EventReasonReaped}, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestReconcileConflictMeansRenewedNotError(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0)
	renewed := metav1.NewMicroTime(t0.Add(10 * time.Second))
	funcs := interceptor.Funcs{
		// The holder renews between the reaper's read and its write.
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
			current := &locksv1alpha1.DistributedLock{}
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), current); err != nil {
				return err
			}
			if current.Spec.RenewTime.Before(&renewed) {
				current.Spec.RenewTime = &renewed
				if err := c.Update(ctx, current); err != nil {
					return err
				}
			}
			return c.Patch(ctx, obj, patch, opts...)
		},
	}
	r, rec := newUnitReconciler(t, clk, unitLock(t0, ""), funcs)
	if _, _, err := reconcileOnce(t, r); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Second)
	res, lock, err := reconcileOnce(t, r)
	if err != nil {
		t.Fatalf("a Conflict is not an error: %v", err)
	}
	if diff := cmp.Diff(ctrl.Result{}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if lock.Spec.HolderIdentity != "worker-1" || !lock.Spec.RenewTime.Equal(&renewed) {
		t.Errorf("spec = %+v, want the renewed lease of worker-1", lock.Spec)
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("events = %v, want none", got)
	}
	if got := testutil.ToFloat64(r.metrics.reaps.WithLabelValues("Release", reapReasonLeaseExpired)); got != 0 {
		t.Errorf("reaps{Release} = %v, want 0", got)
	}
}

func TestReconcileInvalidSpecIsReportedNotAnError(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakeClock(t0.Add(time.Hour))
	lock := unitLock(t0, "")
	lock.Spec.LeaseDurationSeconds = nil // written under an older CRD
	r, rec := newUnitReconciler(t, clk, lock, interceptor.Funcs{})
	res, got, err := reconcileOnce(t, r)
	if err != nil {
		t.Errorf("err = %v, want nil: an invalid object is the writer's to fix, not a reconcile error", err)
	}
	if got.Status.Phase != locksv1alpha1.PhaseInvalid {
		t.Errorf("phase = %q, want %q", got.Status.Phase, locksv1alpha1.PhaseInvalid)
	}
	if diff := cmp.Diff(ctrl.Result{}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	c := meta.FindStatusCondition(got.Status.Conditions, locksv1alpha1.ConditionValid)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != locksv1alpha1.ReasonSpecInvalid {
		t.Errorf("Valid condition = %+v, want False/%s", c, locksv1alpha1.ReasonSpecInvalid)
	}
	if got.Spec.HolderIdentity != "worker-1" {
		t.Errorf("an invalid lock was reaped: %+v", got.Spec)
	}
	if diff := cmp.Diff([]string{EventReasonInvalidSpec}, drain(rec)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, _, err := reconcileOnce(t, r); err != nil {
		t.Errorf("second Reconcile: %v", err)
	}
	if got := drain(rec); len(got) != 0 {
		t.Errorf("second Reconcile events = %v, want none (already reported)", got)
	}
}
