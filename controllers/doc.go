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

// Package controllers holds the DistributedLock controller that
// cmd/manager runs. [DistributedLockReconciler] watches DistributedLock
// objects, requeues each held lock for the instant its lease expires (it
// never polls), and reaps an expired lease as the object's reapPolicy says:
// Release clears the holder and keeps the object, Delete deletes it. It
// also frees a lock bound to its holder's Pod (spec.holderPod) as soon as
// that Pod is gone, and serves Prometheus metrics on the manager's
// registry: locks by phase, reaps by policy and reason, the reap delay
// after expiry, and the acquisitions and renewals it observed.
//
// # Expiry
//
// The controller judges expiry by the rule of package [lease], which the
// lock clients apply too, on its own Clock with the skew allowance of
// [ExpiryRule] (the manager's --clock-skew-allowance, default 1 s), and
// reaps an expired lease ExpiryRule.ReapGrace later (--reap-grace, default
// 0).
//
// # What it writes
//
// The lock clients write the spec with updates guarded by resourceVersion,
// which any write to the object moves on, so the controller writes only
// what an operator acts on:
//
//   - the reap, and one Reaped Event per reap; past a rate limit
//     (ReapEvents), when thousands of leases expire at once, the Event is
//     left out and counted, so that the API server's capacity goes to the
//     reaps;
//   - status for a lease that expired and awaits its reap (phase Expired,
//     condition Held=False, while the reap grace runs or after a failed
//     reap);
//   - status for a spec it cannot interpret (phase Invalid, condition
//     Valid=False, and one InvalidSpec Warning Event per distinct problem):
//     an object not named as the lock clients name its key, a holder
//     without lease times, an unknown reapPolicy, or a renewTime before
//     acquireTime. It never reaps such a lock.
//
// A grant, a renewal or a release changes nothing the controller writes: a
// free lock or a live lease has an empty status.
//
// A reap is guarded by the resourceVersion its verdict was reached on (a
// merge patch for Release, a delete with UID and resourceVersion
// preconditions for Delete), so a lease renewed at the last moment is
// never reaped. The controller never writes fencingToken or
// leaseTransitions: a released lock keeps both, so the next grant's token
// stays above every earlier one; after a Delete the lock clients keep
// tokens rising (see package kubernetes).
//
// The manager's cache keeps only what the controller reads of each lock
// ([TrimCachedLock]; [CacheTransform] for other objects). The RBAC the controller needs is declared in rbac.go,
// from which `make manifests` generates config/rbac/role.yaml.
package controllers
