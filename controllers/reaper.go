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
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// DefaultReapEventQPS and DefaultReapEventBurst limit the Reaped Events by
// default: every reap of a few dozen at a time records its Event, and a
// burst of thousands (a node or a fleet gone at once) records about 20 a
// second beside the reaps instead of doubling their writes on an API
// server they already keep busy. The manager's flags --reap-event-qps and
// --reap-event-burst set them.
const (
	DefaultReapEventQPS   = 20
	DefaultReapEventBurst = 100
)

// reap ends the expired lease of lock as its reapPolicy says, with a write
// guarded by the resourceVersion the expiry was judged on, so that a lease
// renewed at the last moment is never reaped: the renewal changed the
// resourceVersion and the reaping write fails with a Conflict. It reports
// whether it reaped; a Conflict or NotFound is not an error but "someone
// else wrote first", and the watch event of that write makes the
// controller judge the lock again. After a ReapPolicyRelease reap it
// returns the released object too (see endLease); after a ReapPolicyDelete
// reap, nil. It records one Event, Reaped, and only once the write
// succeeded, so that a lease renewed at the last moment is not reported;
// with the reap that makes two writes per abandoned lease. When many
// leases expire at once the Events are limited (see recordReap).
func (r *DistributedLockReconciler) reap(ctx context.Context, lock *locksv1alpha1.DistributedLock,
	expiresAt time.Time) (*locksv1alpha1.DistributedLock, bool, error) {
	log := logf.FromContext(ctx)
	holder := lock.Spec.HolderIdentity
	released, policy, err := r.endLease(ctx, lock)
	switch {
	case apierrors.IsConflict(err) || apierrors.IsNotFound(err):
		log.V(1).Info("Lease changed before it could be reaped", "holder", holder, "reason", apierrors.ReasonForError(err))
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("reaping the expired lease of %q (reapPolicy %s): %w", holder, policy, err)
	}
	delay := r.Clock.Now().Sub(expiresAt)
	r.metrics.reaps.WithLabelValues(string(policy), reapReasonLeaseExpired).Inc()
	// Only a lease that expired after this controller began reconciling
	// measures the reaper: one that expired before (make dev's samples,
	// leases left over a controller's downtime) would record the downtime,
	// days of it, in a histogram meant for seconds.
	if !expiresAt.Before(r.startedAt) {
		r.metrics.reapDelay.Observe(delay.Seconds())
	}
	log.Info("Reaped expired lease", "holder", holder, "reapPolicy", policy, "delayAfterExpiry", delay)
	r.recordReap(lock, released, EventReasonReaped,
		"Reaped the lease of %q (reapPolicy %s): it expired at %s, %s before", holder, policy,
		expiresAt.UTC().Format(time.RFC3339Nano), delay.Round(time.Millisecond))
	return released, true, nil
}

// recordReap records the Normal Event of a reaping write (reason Reaped or
// PodGone) on the lock as the write left it: released, or lock when the
// write deleted it. The Events are limited (ReapEvents): past the limit a
// reap records no Event and is counted in
// leasehold_distributedlock_reap_events_dropped_total, so that the API
// server spends its writes on the reaps when thousands expire at once.
func (r *DistributedLockReconciler) recordReap(lock, released *locksv1alpha1.DistributedLock, reason, note string, args ...any) {
	if !r.ReapEvents.Allow() {
		reapEventsDropped.Inc()
		return
	}
	regarding := lock
	if released != nil {
		regarding = released
	}
	r.Recorder.Eventf(regarding, nil, corev1.EventTypeNormal, reason, "Reap", note, args...)
}

// endLease is the write that ends lock's lease, as its reapPolicy says,
// guarded by lock's resourceVersion and (Delete) UID: the reaper's and the
// Pod binding's. With ReapPolicyRelease it clears the holder and keeps the
// fencing history (fencingToken, leaseTransitions), so that the next
// grant's token is greater, and returns the released object as the API
// server returned it (whole, not trimmed as the cache keeps it). With
// ReapPolicyDelete it returns no object. It does not change lock.
func (r *DistributedLockReconciler) endLease(ctx context.Context,
	lock *locksv1alpha1.DistributedLock) (*locksv1alpha1.DistributedLock, locksv1alpha1.ReapPolicy, error) {
	policy := lock.Spec.ReapPolicy
	if policy == "" {
		policy = locksv1alpha1.ReapPolicyRelease // the CRD's default
	}
	if policy == locksv1alpha1.ReapPolicyDelete {
		return nil, policy, r.Delete(ctx, lock, client.Preconditions{UID: &lock.UID, ResourceVersion: &lock.ResourceVersion})
	}
	if lock.ResourceVersion == "" {
		// Without one the patch would apply to any version.
		return nil, policy, fmt.Errorf("the lock has no resourceVersion to guard the write")
	}
	// The patch names resourceVersion, so the API server applies it only
	// to that version, as it would an Update, and it names only the fields
	// it clears: what the cache leaves out of lock (see TrimCachedLock)
	// stays as the user wrote it.
	released := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{Namespace: lock.Namespace, Name: lock.Name}}
	if err := r.Patch(ctx, released, client.RawPatch(types.MergePatchType, releasePatch(lock.ResourceVersion))); err != nil {
		return nil, policy, err
	}
	return released, policy, nil
}

// releasePatch is the JSON merge patch that ends a grant with
// ReapPolicyRelease: it clears what belonged to it (holderIdentity,
// acquireTime, renewTime, leaseDurationSeconds, the holder's metadata and
// its Pod) and keeps the fencing history (fencingToken, leaseTransitions),
// so that the next grant's token is greater. metadata.resourceVersion
// makes it a guarded write: the API server refuses it with a Conflict if
// the object has changed since that version.
func releasePatch(resourceVersion string) []byte {
	patch := map[string]any{
		"metadata": map[string]any{"resourceVersion": resourceVersion},
		"spec": map[string]any{
			"holderIdentity":       nil,
			"acquireTime":          nil,
			"renewTime":            nil,
			"leaseDurationSeconds": nil,
			"metadata":             nil,
			"holderPod":            nil,
		},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		panic(err) // strings and nulls always marshal
	}
	return data
}
