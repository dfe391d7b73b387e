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
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestExpiryRuleJudge(t *testing.T) {
	// t0 is the holder's renewTime in every case; the fake clock starts
	// there and cases step it, as the controller's clock would move.
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	const lease = 10 * time.Second
	tests := []struct {
		name string
		rule ExpiryRule
		// observedAfter is how long after t0 the controller first saw this
		// version; negative means never observed.
		observedAfter time.Duration
		// elapsed is how long after t0 the verdict is asked for.
		elapsed time.Duration
		want    Verdict
	}{
		{
			name:          "fresh lease waits for a full duration after it was observed",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 100 * time.Millisecond,
			elapsed:       100 * time.Millisecond,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: lease},
		},
		{
			name:          "observation decides when it comes first: renewTime + lease is not enough",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 100 * time.Millisecond,
			elapsed:       lease,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: 100 * time.Millisecond},
		},
		{
			name:          "expired once observed unchanged for a full lease duration",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 100 * time.Millisecond,
			elapsed:       lease + 100*time.Millisecond,
			want:          Verdict{ExpiresAt: t0.Add(lease), Expired: true, Reap: true},
		},
		{
			name:          "one nanosecond before the observation deadline is still held",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 0,
			elapsed:       lease - time.Nanosecond,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: time.Nanosecond},
		},
		{
			name:          "observed late: renewTime + lease + allowance decides",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 8 * time.Second,
			elapsed:       8 * time.Second,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: 3 * time.Second},
		},
		{
			name:          "observed late and past renewTime + lease + allowance: expired",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: 8 * time.Second,
			elapsed:       lease + time.Second,
			want:          Verdict{ExpiresAt: t0.Add(lease), Expired: true, Reap: true},
		},
		{
			name:          "never observed (table full): renewTime rule alone",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: -1,
			elapsed:       lease + 500*time.Millisecond,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: 500 * time.Millisecond},
		},
		{
			name:          "zero allowance trusts renewTime exactly",
			rule:          ExpiryRule{},
			observedAfter: -1,
			elapsed:       lease,
			want:          Verdict{ExpiresAt: t0.Add(lease), Expired: true, Reap: true},
		},
		{
			name:          "holder clock ahead: renewTime in the future, observation bounds the wait",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second},
			observedAfter: -time.Hour, // see below: renewTime is an hour ahead
			elapsed:       0,
			want:          Verdict{ExpiresAt: t0.Add(lease), Wait: lease},
		},
		{
			name:          "expired within reap grace: phase Expired, wait for the grace",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second, ReapGrace: 5 * time.Second},
			observedAfter: 0,
			elapsed:       lease + 2*time.Second,
			want:          Verdict{ExpiresAt: t0.Add(lease), Expired: true, Wait: 3 * time.Second},
		},
		{
			name:          "reap grace over",
			rule:          ExpiryRule{ClockSkewAllowance: time.Second, ReapGrace: 5 * time.Second},
			observedAfter: 0,
			elapsed:       lease + 5*time.Second,
			want:          Verdict{ExpiresAt: t0.Add(lease), Expired: true, Reap: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(t0)
			lease := Lease{RenewTime: t0, Duration: lease}
			switch {
			case tt.observedAfter == -time.Hour:
				// The holder's clock runs an hour ahead of the
				// controller's: its renewTime is an hour in the future.
				lease.RenewTime = t0.Add(time.Hour)
				lease.ObservedSince = clk.Now()
				tt.want.ExpiresAt = lease.RenewTime.Add(lease.Duration)
			case tt.observedAfter >= 0:
				clk.Step(tt.observedAfter)
				lease.ObservedSince = clk.Now()
			}
			clk.SetTime(t0.Add(tt.elapsed))
			got := tt.rule.Judge(lease, clk.Now())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Judge() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}
