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

// The controller's permissions, least privilege. It never creates locks
// (clients do), so there is no create verb. It reads and watches them
// (get, list, watch), clears the holder of an expired lease with a merge
// patch guarded by resourceVersion (patch; it never updates a lock whole,
// since its cache keeps only part of each), deletes
// the locks whose reapPolicy is Delete (delete) and writes their status
// with a merge patch (distributedlocks/status patch). It sets no owner
// references, so it needs no distributedlocks/finalizers.
//
// Pods: a lock bound to its holder's Pod (spec.holderPod) is freed once
// that Pod is gone. The controller watches Pods' metadata only (list,
// watch) and reads one Pod (get) when a Pod with bound locks changes, to
// learn its phase. It never writes Pods.
//
// Events: the reconciler records Expired, Reaped and InvalidSpec through
// the events.k8s.io API; the manager's leader election records its events
// through the core API. Both event recorders create events and patch them
// to count repeats.
//
// Leader election of the manager uses coordination.k8s.io Leases. That rule
// is namespaced (controller-gen makes it a Role, not part of the
// ClusterRole) so that the manager cannot touch other components' Leases,
// such as kube-system's leader elections. The namespace is the one the
// manager runs in, as config/rbac deploys it.
//
// +kubebuilder:rbac:groups=locks.leasehold.dev,resources=distributedlocks,verbs=get;list;watch;patch;delete
// +kubebuilder:rbac:groups=locks.leasehold.dev,resources=distributedlocks/status,verbs=patch
// +kubebuilder:rbac:groups=core,resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=leasehold-system
