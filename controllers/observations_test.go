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

	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
)

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
