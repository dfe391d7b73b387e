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

import "time"

// DefaultClockSkewAllowance is how far the controller trusts a holder's
// clock by default: a lease whose renewTime + leaseDurationSeconds lies
// further in the past than this is expired even if the controller has not
// watched it for a full lease duration itself (after a restart, say).
const DefaultClockSkewAllowance = time.Second

// ExpiryRule is the controller's clock rule: when it judges a lease expired
// and when it reaps it. Kubernetes has no server clock to ask, so the
// controller decides on its own (injected, monotonic) clock. A lease is
// expired at the earlier of
//
//	(a) the instant the controller has observed the same lease version
//	    unchanged for a full lease duration: observedSince + leaseDuration;
//	(b) renewTime + leaseDuration + ClockSkewAllowance, renewTime being
//	    written by the holder on the holder's clock.
//
// (a) is always safe, because the controller can only observe a renewal
// after the holder sent it, and the holder counts its lease from the moment
// it sent the request. (b) lets the controller reap a lease it started
// watching late without waiting a full lease duration, trusting the holder's
// clock only within the allowance. The lease is reaped ReapGrace after it
// expired.
type ExpiryRule struct {
	// ClockSkewAllowance is how far the holder's clock may run behind the
	// controller's without a lease being reaped early by rule (b). Not
	// negative.
	ClockSkewAllowance time.Duration
	// ReapGrace is how long an expired lease is left in place (phase
	// Expired) before the controller reaps it. Not negative.
	ReapGrace time.Duration
}

// Lease is what the expiry rule needs to know about a held lock.
type Lease struct {
	// RenewTime is the holder-written renewTime.
	RenewTime time.Time
	// Duration is leaseDurationSeconds.
	Duration time.Duration
	// ObservedSince is when the controller first observed the lease
	// record in its current version, on the controller's clock. The zero
	// time means "not observed": rule (a) then does not apply.
	ObservedSince time.Time
}

// Verdict is the expiry rule's judgement of one lease at one instant.
type Verdict struct {
	// ExpiresAt is renewTime + leaseDuration: the expiry the holder wrote,
	// shown in status.expiresAt.
	ExpiresAt time.Time
	// Expired reports that the controller judges the lease expired.
	Expired bool
	// Reap reports that the lease is expired and its reap grace is over.
	Reap bool
	// Wait is how long until the verdict changes next (the lease expires,
	// or its grace ends); zero when Reap is true. The reconciler requeues
	// the lock after Wait, so that it looks again at the right instant and
	// never polls.
	Wait time.Duration
}

// Judge applies the rule to lease at the instant now, read from the
// controller's clock. It is pure: the same inputs always give the same
// verdict.
func (r ExpiryRule) Judge(lease Lease, now time.Time) Verdict {
	expiresAt := lease.RenewTime.Add(lease.Duration)
	// Rule (b): the holder's clock, trusted within the allowance.
	remaining := expiresAt.Add(r.ClockSkewAllowance).Sub(now)
	// Rule (a): the controller's own observation. time.Time.Sub uses the
	// monotonic readings when both instants carry one, so a wall clock
	// step does not shorten the wait.
	if !lease.ObservedSince.IsZero() {
		if byObservation := lease.Duration - now.Sub(lease.ObservedSince); byObservation < remaining {
			remaining = byObservation
		}
	}
	v := Verdict{ExpiresAt: expiresAt}
	switch untilReap := remaining + r.ReapGrace; {
	case remaining > 0:
		v.Wait = remaining
	case untilReap > 0:
		v.Expired = true
		v.Wait = untilReap
	default:
		v.Expired = true
		v.Reap = true
	}
	return v
}
