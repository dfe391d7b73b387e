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

// Package v1alpha1 contains the v1alpha1 API of the locks.leasehold.dev
// group: the DistributedLock resource, which is the Kubernetes record of one
// lock in the lock and lease contract that every Leasehold backend implements.
//
// Field names follow coordination.k8s.io/v1 Lease (holderIdentity,
// leaseDurationSeconds, acquireTime, renewTime, leaseTransitions) plus key,
// fencingToken and metadata. The CRD's validation (markers and CEL rules in
// distributedlock_types.go) makes the API server reject records that break
// the contract: a changed key, a decreasing fencing token, a holder without
// the times a lease needs, and values outside the contract's bounds.
//
// +kubebuilder:object:generate=true
// +groupName=locks.leasehold.dev
package v1alpha1
