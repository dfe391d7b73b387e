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
	"k8s.io/utils/ptr"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

func TestValidateLock(t *testing.T) {
	t0 := metav1.NewMicroTime(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	earlier := metav1.NewMicroTime(t0.Add(-time.Second))
	held := func(change func(*locksv1alpha1.DistributedLockSpec)) *locksv1alpha1.DistributedLockSpec {
		s := &locksv1alpha1.DistributedLockSpec{
			Key: "k", HolderIdentity: "h", LeaseDurationSeconds: ptr.To[int32](10),
			AcquireTime: &t0, RenewTime: &t0, FencingToken: 1,
		}
		change(s)
		return s
	}
	tests := []struct {
		name string
		spec *locksv1alpha1.DistributedLockSpec
		want string // "" for valid
	}{
		{"free lock", &locksv1alpha1.DistributedLockSpec{Key: "k", FencingToken: 3}, ""},
		{"held lock", held(func(*locksv1alpha1.DistributedLockSpec) {}), ""},
		{"renewed after acquired", held(func(s *locksv1alpha1.DistributedLockSpec) { s.AcquireTime = &earlier }), ""},
		{"explicit Delete policy", held(func(s *locksv1alpha1.DistributedLockSpec) { s.ReapPolicy = locksv1alpha1.ReapPolicyDelete }), ""},
		{"unknown reap policy", held(func(s *locksv1alpha1.DistributedLockSpec) { s.ReapPolicy = "Archive" }),
			`reapPolicy "Archive" is neither Release nor Delete`},
		{"holder without lease duration (older CRD)", held(func(s *locksv1alpha1.DistributedLockSpec) { s.LeaseDurationSeconds = nil }),
			`holder "h" has no leaseDurationSeconds`},
		{"lease duration of zero (older CRD)", held(func(s *locksv1alpha1.DistributedLockSpec) { s.LeaseDurationSeconds = ptr.To[int32](0) }),
			"leaseDurationSeconds 0 is outside [1, 86400]"},
		{"holder without renewTime", held(func(s *locksv1alpha1.DistributedLockSpec) { s.RenewTime = nil }),
			`holder "h" has no renewTime`},
		{"holder without acquireTime", held(func(s *locksv1alpha1.DistributedLockSpec) { s.AcquireTime = nil }),
			`holder "h" has no acquireTime`},
		{"a derived key under a name of the writer's choosing", held(func(s *locksv1alpha1.DistributedLockSpec) { s.Key = "jobs/k" }),
			`metadata.name "k" is not the name lock clients use for key "jobs/k": name the object "jobs-k-8b81dd8bb601beac"`},
		{"renewed before acquired", held(func(s *locksv1alpha1.DistributedLockSpec) { s.RenewTime = &earlier }),
			"renewTime 2026-11-26T11:59:59.000000Z is before acquireTime 2026-11-26T12:00:00.000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			lock := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{Name: "k"}, Spec: *tt.spec}
			if err := validateLock(lock); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validateLock() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
