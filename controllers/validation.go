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
	"fmt"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
)

// validateLock reports what makes a lock's spec uninterpretable for the
// controller, or nil. The CRD schema rules out most bad records; this
// catches what it cannot: records written under an older CRD without its
// rules (a holder without a lease duration, an unknown reapPolicy) and
// times that contradict each other. The controller never reaps a lock it
// cannot interpret, nor one that lock clients cannot find: the clients
// reach a key's object by the name kubernetes.ObjectName gives it, so an
// object under another name is not the key's lock, whatever it says.
func validateLock(lock *locksv1alpha1.DistributedLock) error {
	spec := &lock.Spec
	if want := kubernetes.ObjectName(spec.Key); lock.Name != want {
		return fmt.Errorf("metadata.name %q is not the name lock clients use for key %q: name the object %q", lock.Name, spec.Key, want)
	}
	switch spec.ReapPolicy {
	case "", locksv1alpha1.ReapPolicyRelease, locksv1alpha1.ReapPolicyDelete:
	default:
		return fmt.Errorf("reapPolicy %q is neither %s nor %s",
			spec.ReapPolicy, locksv1alpha1.ReapPolicyRelease, locksv1alpha1.ReapPolicyDelete)
	}
	if spec.HolderIdentity == "" {
		return nil
	}
	switch {
	case spec.LeaseDurationSeconds == nil:
		return fmt.Errorf("holder %q has no leaseDurationSeconds", spec.HolderIdentity)
	case *spec.LeaseDurationSeconds < locksv1alpha1.MinLeaseDurationSeconds ||
		*spec.LeaseDurationSeconds > locksv1alpha1.MaxLeaseDurationSeconds:
		return fmt.Errorf("leaseDurationSeconds %d is outside [%d, %d]", *spec.LeaseDurationSeconds,
			locksv1alpha1.MinLeaseDurationSeconds, locksv1alpha1.MaxLeaseDurationSeconds)
	case spec.RenewTime == nil:
		return fmt.Errorf("holder %q has no renewTime", spec.HolderIdentity)
	case spec.AcquireTime == nil:
		return fmt.Errorf("holder %q has no acquireTime", spec.HolderIdentity)
	case spec.RenewTime.Before(spec.AcquireTime):
		// Both times come from the same holder's clock: a renewal cannot
		// precede the grant it renews.
		return fmt.Errorf("renewTime %s is before acquireTime %s",
			spec.RenewTime.UTC().Format("2006-01-02T15:04:05.000000Z"),
			spec.AcquireTime.UTC().Format("2006-01-02T15:04:05.000000Z"))
	}
	return nil
}
