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
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

func TestValidateLock(t *testing.T) {
	t0 := metav1.NewMicroTime(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	earlier := metav1.NewMicroTime(t0.Add(-time.Second))
	held := func(change func(*locksv1alpha1.DistributedLockSpec)) *locksv1alpha1.DistributedLockSpec {
		s := &locksv1alpha1.DistributedLockSpec{
			Key: "k", HolderIdentity: "h", LeaseDurationSeconds: ptr.To[int32](10),
			AcquireTime: &t0, RenewTime: &t0, FencingToken: 1,
		}
		change(s)
		return s
	}
	tests := []struct {
		name string
		spec *locksv1alpha1.DistributedLockSpec
		want string // "" for valid
	}{
		{"free lock", &locksv1alpha1.DistributedLockSpec{Key: "k", FencingToken: 3}, ""},
		{"held lock", held(func(*locksv1alpha1.DistributedLockSpec) {}), ""},
		{"renewed after acquired", held(func(s *locksv1alpha1.DistributedLockSpec) { s.AcquireTime = &earlier }), ""},
		{"explicit Delete policy", held(func(s *locksv1alpha1.DistributedLockSpec) { s.ReapPolicy = locksv1alpha1.ReapPolicyDelete }), ""},
		{"unknown reap policy", held(func(s *locksv1alpha1.DistributedLockSpec) { s.ReapPolicy = "Archive" }),
			`reapPolicy "Archive" is neither Release nor Delete`},
		{"holder without lease duration (older CRD)", held(func(s *locksv1alpha1.DistributedLockSpec) { s.LeaseDurationSeconds = nil }),
			`holder "h" has no leaseDurationSeconds`},
		{"lease duration of zero (older CRD)", held(func(s *locksv1alpha1.DistributedLockSpec) { s.LeaseDurationSeconds = ptr.To[int32](0) }),
			"leaseDurationSeconds 0 is outside [1, 86400]"},
		{"holder without renewTime", held(func(s *locksv1alpha1.DistributedLockSpec) { s.RenewTime = nil }),
			`holder "h" has no renewTime`},
		{"holder without acquireTime", held(func(s *locksv1alpha1.DistributedLockSpec) { s.AcquireTime = nil }),
			`holder "h" has no acquireTime`},
		{"a derived key under a name of the writer's choosing", held(func(s *locksv1alpha1.DistributedLockSpec) { s.Key = "jobs/k" }),
			`metadata.name "k" is not the name lock clients use for key "jobs/k": name the object "jobs-k-8b81dd8bb601beac"`},
		{"renewed before acquired", held(func(s *locksv1alpha1.DistributedLockSpec) { s.RenewTime = &earlier }),
			"renewTime 2026-11-26T11:59:59.000000Z is before acquireTime 2026-11-26T12:00:00.000000Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			lock := &locksv1alpha1.DistributedLock{ObjectMeta: metav1.ObjectMeta{Name: "k"}, Spec: *tt.spec}
			if err := validateLock(lock); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("validateLock() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObservationTable(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	c := types.NamespacedName{Namespace: "ns", Name: "c"}
	v1 := leaseVersion{UID: "u1", Generation: 1}
	v2 := leaseVersion{UID: "u1", Generation: 2}
	recreated := leaseVersion{UID: "u2", Generation: 1}
	table := newObservationTable(2)

	first := clk.Now()
	steps := []struct {
		name    string
		do      func() time.Time
		want    time.Time
		wantLen int
	}{
		{"first sight records now", func() time.Time { return table.observe(a, v1, clk.Now()) }, first, 1},
		{"same version keeps the first sight", func() time.Time {
			clk.Step(time.Second)
			return table.observe(a, v1, clk.Now())
		}, first, 1},
		{"a new generation (a renewal) starts again", func() time.Time { return table.observe(a, v2, clk.Now()) }, first.Add(time.Second), 1},
		{"a re-created object starts again", func() time.Time {
			clk.Step(time.Second)
			return table.observe(a, recreated, clk.Now())
		}, first.Add(2 * time.Second), 1},
		{"second lock", func() time.Time { return table.observe(b, v1, clk.Now()) }, first.Add(2 * time.Second), 2},
		{"table full: not observed", func() time.Time { return table.observe(c, v1, clk.Now()) }, time.Time{}, 2},
		{"a known lock is still observed when full", func() time.Time { return table.observe(a, recreated, clk.Now()) }, first.Add(2 * time.Second), 2},
		{"forgetting makes room", func() time.Time {
			table.forget(b)
			return table.observe(c, v1, clk.Now())
		}, first.Add(2 * time.Second), 2},
	}
	for _, s := range steps {
		if got := s.do(); !got.Equal(s.want) {
			t.Errorf("%s: observed since %v, want %v", s.name, got, s.want)
		}
		if got := table.len(); got != s.wantLen {
			t.Errorf("%s: table holds %d, want %d", s.name, got, s.wantLen)
		}
	}
}

func TestLockTracker(t *testing.T) {
	m := newLockMetrics(prometheus.NewRegistry())
	tracker := newLockTracker(m)
	a := types.NamespacedName{Namespace: "ns", Name: "a"}
	b := types.NamespacedName{Namespace: "ns", Name: "b"}
	held := func(holder string, token, renew int64) grant {
		return grant{holder: holder, fencingToken: token, renewTime: renew}
	}
	type counts struct {
		// Phases are the nonzero series of namespace "ns".
		Phases                 map[string]float64
		Acquisitions, Renewals float64
	}
	read := func() counts {
		c := counts{Phases: map[string]float64{}}
		for _, p := range []string{"Free", "Held", "Expired", phaseInvalid} {
			if v := testutil.ToFloat64(m.locks.WithLabelValues("ns", p)); v != 0 {
				c.Phases[p] = v
			}
		}
		c.Acquisitions = testutil.ToFloat64(m.acquisitions)
		c.Renewals = testutil.ToFloat64(m.renewals)
		return c
	}
	steps := []struct {
		name string
		do   func()
		want counts
	}{
		{"created held counts as an acquisition", func() { tracker.see(a, 1, "Held", held("w1", 1, 100)) },
			counts{Phases: map[string]float64{"Held": 1}, Acquisitions: 1}},
		{"seen again unchanged", func() { tracker.see(a, 1, "Held", held("w1", 1, 100)) },
			counts{Phases: map[string]float64{"Held": 1}, Acquisitions: 1}},
		{"renewal", func() { tracker.see(a, 2, "Held", held("w1", 1, 200)) },
			counts{Phases: map[string]float64{"Held": 1}, Acquisitions: 1, Renewals: 1}},
		{"older lock seen first after a restart is not an acquisition", func() { tracker.see(b, 7, "Held", held("w2", 3, 100)) },
			counts{Phases: map[string]float64{"Held": 2}, Acquisitions: 1, Renewals: 1}},
		{"expired", func() { tracker.see(a, 2, "Expired", held("w1", 1, 200)) },
			counts{Phases: map[string]float64{"Held": 1, "Expired": 1}, Acquisitions: 1, Renewals: 1}},
		{"released", func() { tracker.see(a, 3, "Free", grant{fencingToken: 1}) },
			counts{Phases: map[string]float64{"Held": 1, "Free": 1}, Acquisitions: 1, Renewals: 1}},
		{"new holder", func() { tracker.see(a, 4, "Held", held("w3", 2, 300)) },
			counts{Phases: map[string]float64{"Held": 2}, Acquisitions: 2, Renewals: 1}},
		{"same holder, new token: a new grant", func() { tracker.see(a, 5, "Held", held("w3", 3, 400)) },
			counts{Phases: map[string]float64{"Held": 2}, Acquisitions: 3, Renewals: 1}},
		{"invalid", func() { tracker.see(b, 8, phaseInvalid, held("w2", 3, 100)) },
			counts{Phases: map[string]float64{"Held": 1, phaseInvalid: 1}, Acquisitions: 3, Renewals: 1}},
		{"deleted", func() { tracker.forget(b) },
			counts{Phases: map[string]float64{"Held": 1}, Acquisitions: 3, Renewals: 1}},
		{"deleted twice", func() { tracker.forget(b) },
			counts{Phases: map[string]float64{"Held": 1}, Acquisitions: 3, Renewals: 1}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, read()); diff != "" {
			t.Errorf("%s: metrics mismatch (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestLocksGaugeSeries: the locks gauge has a series for every phase of
// every namespace with locks, at 0 where no lock is in that phase, from the
// namespace's first lock on; a namespace's series go with its last lock.
func TestLocksGaugeSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	tracker := newLockTracker(newLockMetrics(reg))
	a1 := types.NamespacedName{Namespace: "team-a", Name: "one"}
	a2 := types.NamespacedName{Namespace: "team-a", Name: "two"}
	b1 := types.NamespacedName{Namespace: "team-b", Name: "one"}
	// series maps {namespace="...",phase="..."} to its value.
	series := func() map[string]float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "leasehold_distributedlocks" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				got["{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue()
			}
		}
		return got
	}
	steps := []struct {
		name string
		do   func()
		want map[string]float64
	}{
		{"nothing seen: no series", func() {}, map[string]float64{}},
		{"first lock of team-a: every phase of team-a", func() { tracker.see(a1, 1, phaseHeld, grant{holder: "w"}) },
			map[string]float64{
				`{namespace="team-a",phase="Expired"}`: 0, `{namespace="team-a",phase="Free"}`: 0,
				`{namespace="team-a",phase="Held"}`: 1, `{namespace="team-a",phase="Invalid"}`: 0,
			}},
		{"team-b", func() { tracker.see(b1, 1, phaseFree, grant{}) },
			map[string]float64{
				`{namespace="team-a",phase="Expired"}`: 0, `{namespace="team-a",phase="Free"}`: 0,
				`{namespace="team-a",phase="Held"}`: 1, `{namespace="team-a",phase="Invalid"}`: 0,
				`{namespace="team-b",phase="Expired"}`: 0, `{namespace="team-b",phase="Free"}`: 1,
				`{namespace="team-b",phase="Held"}`: 0, `{namespace="team-b",phase="Invalid"}`: 0,
			}},
		{"a second lock of team-a expires; team-b's goes", func() {
			tracker.see(a2, 1, string(locksv1alpha1.PhaseExpired), grant{holder: "w"})
			tracker.forget(b1)
		}, map[string]float64{
			`{namespace="team-a",phase="Expired"}`: 1, `{namespace="team-a",phase="Free"}`: 0,
			`{namespace="team-a",phase="Held"}`: 1, `{namespace="team-a",phase="Invalid"}`: 0,
		}},
		{"team-a's first lock goes: the namespace still has one", func() { tracker.forget(a1) },
			map[string]float64{
				`{namespace="team-a",phase="Expired"}`: 1, `{namespace="team-a",phase="Free"}`: 0,
				`{namespace="team-a",phase="Held"}`: 0, `{namespace="team-a",phase="Invalid"}`: 0,
			}},
		{"team-a's last lock goes", func() { tracker.forget(a2) }, map[string]float64{}},
		{"team-a again", func() { tracker.see(a1, 1, phaseInvalid, grant{}) },
			map[string]float64{
				`{namespace="team-a",phase="Expired"}`: 0, `{namespace="team-a",phase="Free"}`: 0,
				`{namespace="team-a",phase="Held"}`: 0, `{namespace="team-a",phase="Invalid"}`: 1,
			}},
	}
	for _, s := range steps {
		s.do()
		if diff := cmp.Diff(s.want, series()); diff != "" {
			t.Errorf("%s: series (-want +got):\n%s", s.name, diff)
		}
	}
}

// TestLongestHold: each namespace with locks reports the age of its oldest
// Held grant, in seconds and in leases, on the tracker's clock and at
// scrape time; expired and free locks do not count.
func TestLongestHold(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newLockMetrics(reg)
	tracker := newLockTracker(m)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clk := clocktesting.NewFakePassiveClock(t0)
	m.holds.add(tracker, clk)
	grantAt := func(ago time.Duration, leaseSeconds int32) grant {
		return grant{holder: "w", fencingToken: 1, acquireTime: t0.Add(-ago).UnixMicro(), leaseSeconds: leaseSeconds}
	}
	tracker.see(types.NamespacedName{Namespace: "team-a", Name: "old"}, 5, phaseHeld, grantAt(100*time.Second, 10))
	tracker.see(types.NamespacedName{Namespace: "team-a", Name: "short"}, 5, phaseHeld, grantAt(30*time.Second, 1))
	tracker.see(types.NamespacedName{Namespace: "team-a", Name: "expired"}, 5, string(locksv1alpha1.PhaseExpired), grantAt(time.Hour, 10))
	tracker.see(types.NamespacedName{Namespace: "team-b", Name: "free"}, 5, phaseFree, grant{fencingToken: 1})
	clk.SetTime(t0.Add(20 * time.Second)) // no reconcile since: the scrape still sees the holds age

	want := `
# HELP leasehold_distributedlock_longest_hold_leases The longest current hold among the Held DistributedLocks of each namespace, in lease durations (the largest grant age / leaseDurationSeconds); 0 when none is held.
# TYPE leasehold_distributedlock_longest_hold_leases gauge
leasehold_distributedlock_longest_hold_leases{namespace="team-a"} 50
leasehold_distributedlock_longest_hold_leases{namespace="team-b"} 0
# HELP leasehold_distributedlock_longest_hold_seconds Age in seconds of the oldest current grant (spec.acquireTime to now) among the Held DistributedLocks of each namespace; 0 when none is held. A holder that renews forever makes it grow.
# TYPE leasehold_distributedlock_longest_hold_seconds gauge
leasehold_distributedlock_longest_hold_seconds{namespace="team-a"} 120
leasehold_distributedlock_longest_hold_seconds{namespace="team-b"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"leasehold_distributedlock_longest_hold_seconds", "leasehold_distributedlock_longest_hold_leases"); err != nil {
		t.Error(err)
	}

	// The old grant is released, team-b's lock deleted.
	tracker.see(types.NamespacedName{Namespace: "team-a", Name: "old"}, 6, phaseFree, grant{fencingToken: 1})
	tracker.forget(types.NamespacedName{Namespace: "team-b", Name: "free"})
	want = `
# HELP leasehold_distributedlock_longest_hold_leases The longest current hold among the Held DistributedLocks of each namespace, in lease durations (the largest grant age / leaseDurationSeconds); 0 when none is held.
# TYPE leasehold_distributedlock_longest_hold_leases gauge
leasehold_distributedlock_longest_hold_leases{namespace="team-a"} 50
# HELP leasehold_distributedlock_longest_hold_seconds Age in seconds of the oldest current grant (spec.acquireTime to now) among the Held DistributedLocks of each namespace; 0 when none is held. A holder that renews forever makes it grow.
# TYPE leasehold_distributedlock_longest_hold_seconds gauge
leasehold_distributedlock_longest_hold_seconds{namespace="team-a"} 50
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"leasehold_distributedlock_longest_hold_seconds", "leasehold_distributedlock_longest_hold_leases"); err != nil {
		t.Error(err)
	}
}
