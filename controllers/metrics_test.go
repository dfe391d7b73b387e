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
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

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
