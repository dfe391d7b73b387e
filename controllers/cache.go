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
	"unique"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// The TypeMeta every cached lock carries, shared instead of one copy per
// object.
var (
	lockAPIVersion = locksv1alpha1.GroupVersion.String()
	lockKind       = "DistributedLock"
)

// TrimCachedLock is the informer cache's transform for DistributedLocks
// (cache.ByObject.Transform): the manager keeps every lock in memory, and
// the controller reads only part of each. It keeps what the controller
// reads and drops the rest:
//
//   - kept: name, namespace, uid, resourceVersion, generation,
//     creationTimestamp and deletionTimestamp; the annotation
//     lease.MillisAnnotation (the exact lease); the spec except metadata;
//     the whole status (a status write is a patch computed from it);
//   - dropped: labels, the other annotations, ownerReferences, finalizers,
//     managedFields, generateName, deletionGracePeriodSeconds and
//     spec.metadata (the holder's own map, up to 16 KiB).
//
// Strings that repeat from lock to lock (apiVersion, kind, namespace,
// reapPolicy, phase) are shared, not copied per object.
//
// This is safe only because no write of the controller sends a cached
// object whole: a reap is a merge patch that names the fields it clears
// (reapPolicy Release) or a delete (Delete), and a status write is a merge
// patch of status alone. A change of the controller that reads another
// field, or writes a cached object back, must keep that field here. It
// passes any other object (a deleted object's tombstone) through, and
// trimming a trimmed lock changes nothing.
func TrimCachedLock(obj any) (any, error) {
	lock, ok := obj.(*locksv1alpha1.DistributedLock)
	if !ok {
		return obj, nil
	}
	if lock.APIVersion == lockAPIVersion {
		lock.APIVersion = lockAPIVersion
	}
	if lock.Kind == lockKind {
		lock.Kind = lockKind
	}
	m := &lock.ObjectMeta
	m.Namespace = intern(m.Namespace)
	m.GenerateName = ""
	m.Labels = nil
	m.OwnerReferences = nil
	m.Finalizers = nil
	m.ManagedFields = nil
	m.DeletionGracePeriodSeconds = nil
	if ms, ok := m.Annotations[lease.MillisAnnotation]; ok {
		if len(m.Annotations) > 1 {
			m.Annotations = map[string]string{lease.MillisAnnotation: ms}
		}
	} else {
		m.Annotations = nil
	}
	lock.Spec.Metadata = nil
	lock.Spec.ReapPolicy = locksv1alpha1.ReapPolicy(intern(string(lock.Spec.ReapPolicy)))
	lock.Status.Phase = locksv1alpha1.LockPhase(intern(string(lock.Status.Phase)))
	return lock, nil
}

// intern returns the one shared copy of s.
func intern(s string) string {
	if s == "" {
		return ""
	}
	return unique.Make(s).Value()
}
