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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// TestTrimCachedLock: the cached copy keeps what the controller reads and
// drops the rest, trimming twice changes nothing, and other objects pass.
func TestTrimCachedLock(t *testing.T) {
	t0 := metav1.NewMicroTime(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	deleted := metav1.NewTime(t0.Time)
	condition := metav1.Condition{Type: locksv1alpha1.ConditionHeld, Status: metav1.ConditionFalse, Reason: locksv1alpha1.ReasonLeaseExpired}
	full := func() *locksv1alpha1.DistributedLock {
		return &locksv1alpha1.DistributedLock{
			TypeMeta: metav1.TypeMeta{APIVersion: "locks.leasehold.dev/v1alpha1", Kind: "DistributedLock"},
			ObjectMeta: metav1.ObjectMeta{
				Name: "k", GenerateName: "k-", Namespace: "team-a", UID: "u-1", ResourceVersion: "42", Generation: 3,
				CreationTimestamp: deleted, DeletionTimestamp: &deleted, DeletionGracePeriodSeconds: ptr.To[int64](0),
				Labels:          map[string]string{"team": "payments"},
				Annotations:     map[string]string{"owner": "alice", lease.MillisAnnotation: "9500"},
				OwnerReferences: []metav1.OwnerReference{{Name: "owner"}},
				Finalizers:      []string{"keep"},
				ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "lockctl"}},
			},
			Spec: locksv1alpha1.DistributedLockSpec{
				Key: "k", HolderIdentity: "h", LeaseDurationSeconds: ptr.To[int32](10), AcquireTime: &t0, RenewTime: &t0,
				LeaseTransitions: 2, FencingToken: 5, Metadata: map[string]string{"host": "node-1"},
				ReapPolicy: locksv1alpha1.ReapPolicyRelease,
			},
			Status: locksv1alpha1.DistributedLockStatus{Phase: locksv1alpha1.PhaseExpired, ObservedGeneration: 3,
				Conditions: []metav1.Condition{condition}},
		}
	}
	want := full()
	want.GenerateName, want.DeletionGracePeriodSeconds = "", nil
	want.Labels, want.OwnerReferences, want.Finalizers, want.ManagedFields = nil, nil, nil, nil
	want.Annotations = map[string]string{lease.MillisAnnotation: "9500"}
	want.Spec.Metadata = nil

	got, err := TrimCachedLock(full())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("trimmed (-want +got):\n%s", diff)
	}
	again, err := TrimCachedLock(got)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("trimmed twice (-want +got):\n%s", diff)
	}

	noMillis := full()
	noMillis.Annotations = map[string]string{"owner": "alice"}
	got, _ = TrimCachedLock(noMillis)
	if a := got.(*locksv1alpha1.DistributedLock).Annotations; a != nil {
		t.Errorf("annotations without the lease's: got %v, want none", a)
	}

	tombstone := toolscache.DeletedFinalStateUnknown{Key: "team-a/k", Obj: full()}
	got, err = TrimCachedLock(tombstone)
	if err != nil || !cmp.Equal(got, any(tombstone)) {
		t.Errorf("a tombstone: got %v, %v; want it unchanged", got, err)
	}
}
