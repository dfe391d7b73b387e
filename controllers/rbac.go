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
// (clients do), so there is no create verb: it reads them, writes their
// status, clears the holder of expired leases (update, patch) and deletes
// those whose reapPolicy is Delete. Events record reaping; both event APIs
// are allowed because controller-runtime's recorders use either (the
// events.k8s.io one since v0.23, the core one before).
//
// Leader election of the manager uses coordination.k8s.io Leases. That rule
// is namespaced (controller-gen makes it a Role, not part of the
// ClusterRole) so that the manager cannot touch other components' Leases,
// such as kube-system's leader elections. The namespace is the one the
// manager runs in, as config/rbac deploys it.
//
// +kubebuilder:rbac:groups=locks.leasehold.dev,resources=distributedlocks,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=locks.leasehold.dev,resources=distributedlocks/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=locks.leasehold.dev,resources=distributedlocks/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=leasehold-system
