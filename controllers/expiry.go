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
	"time"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes/lease"
)

// DefaultClockSkewAllowance is the controller's default skew allowance in
// the expiry rule of package [lease], the lock clients' default too.
const DefaultClockSkewAllowance = lease.DefaultSkewAllowance

// ExpiryRule is the controller's use of the expiry rule of package [lease]:
// when a lease is expired, and when the controller reaps it, ReapGrace
// later.
type ExpiryRule struct {
	// ClockSkewAllowance is how far the holder's clock may run behind the
	// controller's without a lease being reaped early by renewTime. Not
	// negative.
	ClockSkewAllowance time.Duration
	// ReapGrace is how long an expired lease is left in place (phase
	// Expired) before the controller reaps it. Not negative.
	ReapGrace time.Duration
}

// Lease is what the expiry rule needs to know about a held lock.
type Lease = lease.Observed

// Verdict is the expiry rule's judgement of one lease at one instant.
type Verdict struct {
	// ExpiresAt is renewTime + lease: the expiry the holder wrote.
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

// Judge applies the rule to l at the instant now, read from the
// controller's clock. It is pure: the same inputs always give the same
// verdict.
func (r ExpiryRule) Judge(l Lease, now time.Time) Verdict {
	v := lease.Rule{SkewAllowance: r.ClockSkewAllowance}.Judge(l, now)
	out := Verdict{ExpiresAt: v.ExpiresAt}
	switch untilReap := v.Remaining + r.ReapGrace; {
	case !v.Expired:
		out.Wait = v.Remaining
	case untilReap > 0:
		out.Expired = true
		out.Wait = untilReap
	default:
		out.Expired = true
		out.Reap = true
	}
	return out
}
