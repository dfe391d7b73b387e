package lease

import (
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// DefaultSkewAllowance is how far a holder's clock may lag a party's before
// renewTime stops shortening that party's wait for expiry.
const DefaultSkewAllowance = time.Second

// MillisAnnotation keeps a lease duration that is not a whole number of
// seconds exactly (see Set and Duration).
const MillisAnnotation = "locks.leasehold.dev/lease-duration-ms"

// Identity names one lock state of an object: its UID and
// metadata.generation, which every grant, renewal and release moves on and
// status and metadata writes leave alone (see the package documentation).
type Identity struct {
	UID        types.UID
	Generation int64
}

// IdentityOf returns obj's lock state identity.
func IdentityOf(obj *locksv1alpha1.DistributedLock) Identity {
	return Identity{UID: obj.UID, Generation: obj.Generation}
}

// Version is the record's Version as clients see it: "GENERATION.UID",
// the same in every process.
func (id Identity) Version() string {
	return strconv.FormatInt(id.Generation, 10) + "." + string(id.UID)
}

// Duration reads the lease duration Set wrote. An annotation that does not
// round up to the spec's seconds is ignored (someone edited one without the
// other), so the spec's value, the longer one, stands.
func Duration(obj *locksv1alpha1.DistributedLock) time.Duration {
	if obj.Spec.LeaseDurationSeconds == nil {
		return 0
	}
	secs := time.Duration(*obj.Spec.LeaseDurationSeconds) * time.Second
	if v, ok := obj.Annotations[MillisAnnotation]; ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
			if d := time.Duration(ms) * time.Millisecond; d <= secs && d > secs-time.Second {
				return d
			}
		}
	}
	return secs
}

// Set writes lease d into obj: whole seconds, rounded up, in the spec, and
// the exact milliseconds in MillisAnnotation when they differ.
func Set(obj *locksv1alpha1.DistributedLock, d time.Duration) {
	secs := int32((d + time.Second - 1) / time.Second)
	obj.Spec.LeaseDurationSeconds = &secs
	if d%time.Second == 0 {
		delete(obj.Annotations, MillisAnnotation)
		return
	}
	if obj.Annotations == nil {
		obj.Annotations = map[string]string{}
	}
	obj.Annotations[MillisAnnotation] = strconv.FormatInt(d.Milliseconds(), 10)
}

// ExpiresAt is renewTime + Duration, as the holder wrote them; zero when
// the object has no renewTime.
func ExpiresAt(obj *locksv1alpha1.DistributedLock) time.Time {
	if obj.Spec.RenewTime == nil {
		return time.Time{}
	}
	return obj.Spec.RenewTime.Add(Duration(obj))
}

// Observed is what the rule needs to know of a held lease.
type Observed struct {
	// RenewTime is the holder-written renewTime.
	RenewTime time.Time
	// Duration is the lease (see Duration).
	Duration time.Duration
	// ObservedSince is when the judging party first saw the lease's
	// current Identity, on its own clock (with a monotonic reading where it
	// has one). The zero time means not observed: rule (a) does not apply.
	ObservedSince time.Time
}

// Of returns what obj says of its lease, first seen at observedSince.
func Of(obj *locksv1alpha1.DistributedLock, observedSince time.Time) Observed {
	o := Observed{Duration: Duration(obj), ObservedSince: observedSince}
	if obj.Spec.RenewTime != nil {
		o.RenewTime = obj.Spec.RenewTime.Time
	}
	return o
}

// Rule is the expiry rule with its one parameter.
type Rule struct {
	// SkewAllowance is how far the holder's clock may run behind the
	// judging party's without rule (b) judging the lease expired early.
	// Negative values count as zero.
	SkewAllowance time.Duration
}

// Verdict is the rule's judgement of one lease at one instant.
type Verdict struct {
	// ExpiresAt is RenewTime + Duration: the expiry the holder wrote.
	ExpiresAt time.Time
	// Expired reports that the lease has run out (Remaining <= 0).
	Expired bool
	// Remaining is how long until the lease runs out by the rule; zero or
	// negative once it has.
	Remaining time.Duration
}

// Judge applies the rule to o at the instant now, read from the judging
// party's clock. It is pure. time.Time.Sub uses monotonic readings when
// both instants carry one, so a wall clock step does not shorten rule (a).
func (r Rule) Judge(o Observed, now time.Time) Verdict {
	expiresAt := o.RenewTime.Add(o.Duration)
	remaining := expiresAt.Add(max(r.SkewAllowance, 0)).Sub(now)
	if o.RenewTime.IsZero() {
		remaining = o.Duration // no renewTime: rule (a) alone
	}
	if !o.ObservedSince.IsZero() {
		remaining = min(remaining, o.Duration-now.Sub(o.ObservedSince))
	}
	return Verdict{ExpiresAt: expiresAt, Expired: remaining <= 0, Remaining: remaining}
}
