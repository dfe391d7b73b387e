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

// Package controllers holds the DistributedLock controller: it watches
// DistributedLock objects, requeues each held lock for the instant its lease
// expires, and reaps expired leases as each object's reapPolicy says (clear
// the holder, or delete the object). It serves Prometheus metrics on the
// manager's registry: locks by phase, reaps by policy, the reap delay after
// expiry, and the acquisitions and renewals it observed. It also frees a
// lock bound to its holder's Pod (spec.holderPod) as soon as that Pod is
// gone (see podbinding.go).
//
// # What it writes
//
// The lock clients write the spec with resourceVersion-guarded updates, and
// any write to the object moves its resourceVersion, so every controller
// write can cost a holder a conflict and a read. The controller therefore
// writes only what an operator acts on: the reap itself and one Reaped
// Event per reap (two writes per abandoned lease; past a rate limit, when
// thousands expire at once, the Event is left out and counted, so that
// the API server's capacity goes to the reaps); status only for a lease
// that expired and awaits reaping (phase Expired, condition Held=False,
// while --reap-grace runs or after a failed reap) and for a spec it cannot
// interpret (phase Invalid, condition Valid=False, and one InvalidSpec
// Warning Event per distinct problem; not a reconcile error, since retrying
// cannot help). A lock that is free or held by a live lease has an empty
// status: its spec says all there is, and kubectl get shows the holder,
// lease and relative renewal time from the spec.
//
// # Clock rule
//
// The controller judges expiry by the Kubernetes lease rule of package
// lease (pkg/backends/kubernetes/lease, whose doc explains it; the lock
// clients apply the same rule) on its own injected clock, with the skew
// allowance of --clock-skew-allowance (default 1s), and reaps an expired
// lease --reap-grace later (default 0; ExpiryRule in expiry.go). The table
// of first sightings (observations.go) is bounded and forgets a lock when
// it is free, invalid or deleted.
//
// # Reaping and fencing tokens
//
// A reap is a write guarded by the resourceVersion the verdict was reached
// on: a merge patch carrying that resourceVersion and clearing
// holderIdentity, acquireTime, renewTime, leaseDurationSeconds and
// metadata, and nothing else (reapPolicy Release), or a delete with
// UID and resourceVersion preconditions (reapPolicy Delete). A renewal that
// lands first makes the reap fail with a Conflict, and the lease is judged
// again from the newer version: a lease renewed at the last moment is never
// reaped. The controller never writes fencingToken or leaseTransitions: a
// released lock keeps both, so the next grant's token, chosen by the client
// and checked by the CRD's rule, stays strictly greater than every earlier
// one. After a Delete, keeping tokens increasing is the lock clients' job
// (see the Kubernetes backend).
//
// The controller never reaps a lock whose spec it cannot interpret
// (Valid=False): an object not named as the lock clients name its key (they
// would never see it), a holder without lease times (written under an older
// CRD), an unknown reapPolicy, or a renewTime before acquireTime.
//
// Since no write sends a cached lock whole, the manager's cache keeps only
// what the controller reads of each lock (TrimCachedLock in cache.go).
//
// The RBAC the controller needs is declared once, in rbac.go, from which
// `make manifests` generates config/rbac/role.yaml.
//
// The envtest suite in this package also checks the CRD's schema
// (schema_test.go): that the API server accepts the samples in
// config/samples and rejects objects that break the lock contract with the
// CRD's messages.
package controllers
