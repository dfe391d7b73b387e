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

package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/leasehold/leasehold/pkg/backends"
)

// Bounds of the lock contract (defined in package backends) as this API
// states them. The schema markers below repeat the numbers, because
// markers cannot name a constant; a test checks that the generated CRD
// agrees with these.
const (
	// MaxKeyBytes is the longest key, in bytes of UTF-8.
	MaxKeyBytes = backends.MaxKeyBytes
	// MaxHolderIdentityBytes is the longest holder identity, in bytes of UTF-8.
	MaxHolderIdentityBytes = backends.MaxHolderBytes
	// MinLeaseDurationSeconds is the shortest lease the API accepts.
	MinLeaseDurationSeconds = int32(backends.MinLeaseDuration / time.Second)
	// MaxLeaseDurationSeconds is the longest lease the API accepts (24 h).
	MaxLeaseDurationSeconds = int32(backends.MaxLeaseDuration / time.Second)
	// MaxMetadataEntries is the largest number of metadata entries.
	MaxMetadataEntries = backends.MaxMetadataEntries
	// MaxMetadataBytes bounds the metadata's total size: the sum of the
	// lengths in bytes of all keys and values. The CRD checks the same number
	// in characters (see DistributedLockSpec.Metadata).
	MaxMetadataBytes = backends.MaxMetadataBytes
)

// ReapPolicy says what the controller does with a lock whose lease expired.
// +kubebuilder:validation:Enum=Release;Delete
type ReapPolicy string

const (
	// ReapPolicyRelease clears the holder and keeps the object, so that its
	// fencing history (fencingToken, leaseTransitions) stays in place.
	ReapPolicyRelease ReapPolicy = "Release"
	// ReapPolicyDelete deletes the object. Suits short-lived keys that would
	// otherwise pile up.
	ReapPolicyDelete ReapPolicy = "Delete"
)

// LockPhase is the controller's word on a lock that needs an operator's
// eye. A lock that is free or held by an unexpired lease has no phase: the
// spec (holderIdentity, renewTime) says all there is, and the controller
// does not write status for grants, renewals or releases, so that its
// writes never race the holders' guarded updates.
// +kubebuilder:validation:Enum=Free;Held;Expired;Invalid
type LockPhase string

const (
	// PhaseFree and PhaseHeld are accepted for objects written by earlier
	// controllers; this controller clears them.
	PhaseFree LockPhase = "Free"
	PhaseHeld LockPhase = "Held"
	// PhaseExpired means the lock has a holder whose lease has expired and
	// has not been reaped yet (the controller's --reap-grace, or a reap
	// that failed). Anyone may acquire an expired lock.
	PhaseExpired LockPhase = "Expired"
	// PhaseInvalid means the controller cannot interpret the spec and
	// leaves the lock alone; the Valid condition says why.
	PhaseInvalid LockPhase = "Invalid"
)

// Condition types set in DistributedLockStatus.Conditions.
const (
	// ConditionHeld is False (reason LeaseExpired) while an expired lease
	// awaits reaping.
	ConditionHeld = "Held"
	// ConditionValid is False when the spec cannot be interpreted by the
	// controller (something the schema cannot rule out); the reason and
	// message say what is wrong.
	ConditionValid = "Valid"
)

// Condition reasons set in DistributedLockStatus.Conditions.
const (
	// ReasonLeaseExpired: the Held condition is False because the lease ran
	// out without being renewed.
	ReasonLeaseExpired = "LeaseExpired"
	// ReasonSpecInvalid: the Valid condition is False.
	ReasonSpecInvalid = "SpecInvalid"
)

// DistributedLockSpec is the lock record: who holds the lock, since when, for
// how long, and with which fencing token. Lock clients (the Kubernetes
// backend) write it with updates guarded by resourceVersion; the controller
// only clears the holder of expired leases.
//
// +kubebuilder:validation:XValidation:rule="!has(self.holderIdentity) || has(self.acquireTime)",message="a lock with a holderIdentity needs acquireTime"
// +kubebuilder:validation:XValidation:rule="!has(self.holderIdentity) || has(self.renewTime)",message="a lock with a holderIdentity needs renewTime"
// +kubebuilder:validation:XValidation:rule="!has(self.holderIdentity) || has(self.leaseDurationSeconds)",message="a lock with a holderIdentity needs leaseDurationSeconds"
// +kubebuilder:validation:XValidation:rule="!has(self.holderIdentity) || (has(self.fencingToken) && self.fencingToken > 0)",message="a lock with a holderIdentity needs a fencingToken greater than 0 (0 is never granted)"
// +kubebuilder:validation:XValidation:rule="!has(self.acquireTime) || !has(self.renewTime) || self.renewTime >= self.acquireTime",message="renewTime must not be before acquireTime"
// +kubebuilder:validation:XValidation:rule="!has(self.holderPod) || has(self.holderIdentity)",message="a lock with a holderPod needs a holderIdentity (a free lock is bound to no Pod)"
// +kubebuilder:validation:XValidation:rule="!has(self.holderIdentity) || (has(oldSelf.holderIdentity) && oldSelf.holderIdentity == self.holderIdentity) || self.fencingToken > oldSelf.fencingToken",message="fencingToken must increase when a new holder takes the lock"
type DistributedLockSpec struct {
	// key is the lock's name as the client gave it: 1 to 256 bytes of UTF-8
	// without control characters. The object's name is derived from it, as
	// object names cannot hold every key. It is immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 256",message="key must be at most 256 bytes"
	// +kubebuilder:validation:XValidation:rule="!self.matches(r'\\p{Cc}')",message="key must not contain control characters"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="key is immutable"
	Key string `json:"key"`

	// holderIdentity is the identity of the current holder: 1 to 256 bytes
	// of UTF-8 without control characters. Absent (empty in Go) means the
	// lock is free; there is no second spelling of free, so an empty string
	// is rejected.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule="size(bytes(self)) <= 256",message="holderIdentity must be at most 256 bytes"
	// +kubebuilder:validation:XValidation:rule="!self.matches(r'\\p{Cc}')",message="holderIdentity must not contain control characters"
	HolderIdentity string `json:"holderIdentity,omitempty"`

	// leaseDurationSeconds is how long the lease lasts after renewTime,
	// from 1 second to 24 hours. Required while the lock has a holder.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=86400
	LeaseDurationSeconds *int32 `json:"leaseDurationSeconds,omitempty"`

	// acquireTime is when the current holder was granted the lock. Required
	// while the lock has a holder.
	// +optional
	AcquireTime *metav1.MicroTime `json:"acquireTime,omitempty"`

	// renewTime is when the current holder last acquired or renewed the
	// lease, by the holder's clock. Required while the lock has a holder.
	// +optional
	RenewTime *metav1.MicroTime `json:"renewTime,omitempty"`

	// leaseTransitions counts how many times the lock passed to a different
	// holder. It never decreases.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="leaseTransitions must not decrease"
	LeaseTransitions int32 `json:"leaseTransitions,omitempty"`

	// fencingToken is the token of the current (or last) grant. Every grant
	// of this key gets a token strictly greater than every earlier grant's;
	// renewals keep it. It never decreases. The contract's tokens are
	// unsigned 64-bit numbers, but JSON and OpenAPI have no unsigned 64-bit
	// integer, so the API stores them as a non-negative int64: tokens stay
	// below 2^63.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="fencingToken must not decrease"
	FencingToken int64 `json:"fencingToken,omitempty"`

	// metadata is free-form information the holder attaches to its grant
	// (for example its host or the job it runs): at most 64 entries and 16
	// KiB in all, keys and values. A new grant replaces it; it is never
	// inherited from the previous holder.
	//
	// The API server counts the 16 KiB in characters, not bytes: converting
	// every key and value to bytes in CEL exceeds the API server's cost
	// budget for strings of unbounded length. The lock clients enforce the
	// contract's bound in bytes, which is the stricter of the two.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.map(k, size(k) + size(self[k])).sum() <= 16384",message="metadata must be at most 16384 characters in all (keys and values)"
	Metadata map[string]string `json:"metadata,omitempty"`

	// holderPod is the Pod the holder runs in, in the lock's own namespace.
	// The controller frees the lock (as it reaps an expired lease, keeping
	// the fencing token) as soon as that Pod is gone: deleted, finished
	// (phase Succeeded or Failed), or replaced by a Pod of the same name
	// with another UID. A Pod on a Node that is NotReady is not gone (it may
	// still run); the lease decides. Lock clients set it on a grant when
	// they run in a Pod (the downward API gives them its name and UID), a
	// renewal keeps it and a release clears it. Absent: the lease alone
	// decides.
	// +optional
	HolderPod *HolderPod `json:"holderPod,omitempty"`

	// reapPolicy says what the controller does once the lease expired:
	// Release clears the holder and keeps the object with its fencing
	// history; Delete deletes the object.
	// +optional
	// +kubebuilder:default=Release
	ReapPolicy ReapPolicy `json:"reapPolicy,omitempty"`
}

// HolderPod names the Pod a lock's holder runs in. The namespace is the
// lock's: a lock can only be bound to a Pod beside it.
type HolderPod struct {
	// name is the Pod's name (metadata.name): a DNS-1123 subdomain of at
	// most 253 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// uid is the Pod's metadata.uid, which tells this Pod apart from a
	// later one of the same name: 1 to 128 characters.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	UID string `json:"uid"`
}

// DistributedLockStatus is what the controller observed about the lock.
type DistributedLockStatus struct {
	// phase is Expired while an expired lease awaits reaping and Invalid
	// while the spec cannot be interpreted; absent otherwise (free or held:
	// see spec.holderIdentity and spec.renewTime).
	// +optional
	Phase LockPhase `json:"phase,omitempty"`

	// observedGeneration is the metadata.generation this status describes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are the lock's conditions, one per type: Held=False while
	// an expired lease awaits reaping, Valid=False while the spec is
	// invalid. Absent otherwise.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// DistributedLock is one lock of the lock and lease contract: its key, its
// current holder and lease, and its fencing token.
//
// The name rule is the Kubernetes backend's ObjectName: a key that is a
// DNS-1123 label not ending in '-' and 16 hex digits names its own object;
// any other key's object name ends in '-' and the first 16 hex digits of
// the key's SHA-256, which CEL cannot compute, so the controller checks
// those digits.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dlock,categories=locks
// +kubebuilder:validation:XValidation:rule="self.spec.key.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$') && !self.spec.key.matches('-[0-9a-f]{16}$') ? self.metadata.name == self.spec.key : self.metadata.name.matches('-[0-9a-f]{16}$')",messageExpression="self.spec.key.matches('^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$') && !self.spec.key.matches('-[0-9a-f]{16}$') ? 'metadata.name must equal spec.key (' + self.spec.key + '): lock clients name the object of a key that is a valid object name after the key itself' : 'metadata.name must be the name lock clients derive from spec.key: a readable prefix, a dash and 16 hex digits of the SHA-256 of the key, as kubernetes.ObjectName computes it; a key that is itself a valid object name needs no hash'"
// +kubebuilder:printcolumn:name="Key",type=string,JSONPath=`.spec.key`
// +kubebuilder:printcolumn:name="Holder",type=string,JSONPath=`.spec.holderIdentity`
// +kubebuilder:printcolumn:name="Token",type=integer,JSONPath=`.spec.fencingToken`
// +kubebuilder:printcolumn:name="Lease",type=integer,JSONPath=`.spec.leaseDurationSeconds`,description="Lease duration in seconds"
// +kubebuilder:printcolumn:name="Renewed",type=date,JSONPath=`.spec.renewTime`,description="When the holder last acquired or renewed, by its clock"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`,description="Expired (awaiting reaping) or Invalid; empty when free or held"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Acquired",type=date,JSONPath=`.spec.acquireTime`,priority=1,description="When the current holder was granted the lock"
// +kubebuilder:printcolumn:name="Transitions",type=integer,JSONPath=`.spec.leaseTransitions`,priority=1
// +kubebuilder:printcolumn:name="Pod",type=string,JSONPath=`.spec.holderPod.name`,priority=1,description="The holder's Pod; the lock is freed once it is gone"
// +kubebuilder:printcolumn:name="Reap",type=string,JSONPath=`.spec.reapPolicy`,priority=1,description="What the controller does once the lease expired"
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="Valid")].message`,priority=1,description="Why the spec is invalid"
type DistributedLock struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the lock record.
	// +required
	Spec DistributedLockSpec `json:"spec"`

	// status is what the controller observed about the lock.
	// +optional
	Status DistributedLockStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// DistributedLockList contains a list of DistributedLock.
type DistributedLockList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []DistributedLock `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, &DistributedLock{}, &DistributedLockList{})
		return nil
	})
}
