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

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/leasehold/leasehold/test/support/kubeenv"
)

// delays summarizes reap delays, in milliseconds.
type delays struct {
	Min float64 `json:"minMs"`
	P50 float64 `json:"p50Ms"`
	P90 float64 `json:"p90Ms"`
	P99 float64 `json:"p99Ms"`
	Max float64 `json:"maxMs"`
}

func summarize(sorted []time.Duration) delays {
	n := len(sorted)
	if n == 0 {
		return delays{}
	}
	ms := func(d time.Duration) float64 { return float64(d.Round(time.Microsecond)) / float64(time.Millisecond) }
	pct := func(p int) float64 { return ms(sorted[min(n-1, n*p/100)]) }
	return delays{Min: ms(sorted[0]), P50: pct(50), P90: pct(90), P99: pct(99), Max: ms(sorted[n-1])}
}

// line is the summary bench/compare parses: "min X, median X, p90 X, p99 X, worst X".
func (d delays) line() string {
	f := func(ms float64) string {
		return (time.Duration(ms * float64(time.Millisecond))).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("min %s, median %s, p90 %s, p99 %s, worst %s", f(d.Min), f(d.P50), f(d.P90), f(d.P99), f(d.Max))
}

// writesPerReap is the manager's writes divided by the leases reaped.
type writesPerReap struct {
	Total   float64 `json:"total"`
	Reaping float64 `json:"reaping"`
	Events  float64 `json:"events"`
	Status  float64 `json:"status"`
	Other   float64 `json:"other"`
}

func perReap(w writeSplit, n int) writesPerReap {
	f := func(v int64) float64 { return float64(v) / float64(n) }
	return writesPerReap{Total: f(w.writes()), Reaping: f(w.Reaping), Events: f(w.Events), Status: f(w.Status), Other: f(w.Other)}
}

func (w writesPerReap) line() string {
	return fmt.Sprintf("%.3f (reaping %.3f, Events %.3f, status %.3f, other %.3f)", w.Total, w.Reaping, w.Events, w.Status, w.Other)
}

type delayResult struct {
	Locks         int           `json:"locks"`
	MinLease      int           `json:"minLeaseSeconds"`
	MaxLease      int           `json:"maxLeaseSeconds"`
	Writers       int           `json:"writers"`
	Workers       int           `json:"workers"`
	CreatedS      float64       `json:"createdSeconds"`
	AllReapedS    float64       `json:"allReapedSeconds"`
	Delay         delays        `json:"delay"`
	Writes        writeSplit    `json:"writes"`
	WritesPerReap writesPerReap `json:"writesPerReap"`
}

type burstResult struct {
	Locks            int           `json:"locks"`
	Workers          int           `json:"workers"`
	QPS              float64       `json:"qps"`
	QPSBurst         int           `json:"qpsBurst"`
	CreateRate       float64       `json:"createsPerSecond"`
	RawPerS          float64       `json:"rawGuardedUpdatesPerSecond"`
	RawUnlimitedPerS float64       `json:"rawGuardedUpdatesUnlimitedPerSecond,omitempty"`
	CreatedS         float64       `json:"createdSeconds"`
	ExpirySpanS      float64       `json:"expirySpanSeconds"`
	FirstReapAfterS  float64       `json:"firstReapAfterFirstExpirySeconds"`
	ReapSpanS        float64       `json:"reapSpanSeconds"`
	ReapsPerS        float64       `json:"reapsPerSecond"`
	Ratio            float64       `json:"ratio"`
	Delay            delays        `json:"delay"`
	SightLag         delays        `json:"watchLagAtGrant"`
	ReaperLag        delays        `json:"reaperLagAfterRule"`
	Writes           writeSplit    `json:"writes"`
	WritesPerReap    writesPerReap `json:"writesPerReap"`
}

type spreadResult struct {
	Locks         int           `json:"locks"`
	OverS         float64       `json:"overSeconds"`
	Workers       int           `json:"workers"`
	CreatedS      float64       `json:"createdSeconds"`
	LeaseS        int           `json:"leaseSeconds"`
	ExpirySpanS   float64       `json:"expirySpanSeconds"`
	Delay         delays        `json:"delay"`
	SightLag      delays        `json:"watchLagAtGrant"`
	ReaperLag     delays        `json:"reaperLagAfterRule"`
	Writes        writeSplit    `json:"writes"`
	WritesPerReap writesPerReap `json:"writesPerReap"`
}

type machine struct {
	NProc     int    `json:"nproc"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"goVersion"`
	// Kubernetes is the control plane's version (go.mod's k8s.io/api).
	Kubernetes string `json:"kubernetes"`
	Commit     string `json:"commit"`
	LoadStart  string `json:"loadAverageStart"`
	LoadEnd    string `json:"loadAverageEnd"`
}

type report struct {
	Date     string        `json:"date"`
	Command  string        `json:"command"`
	Machine  machine       `json:"machine"`
	Duration float64       `json:"durationSeconds"`
	Writers  int           `json:"writers"`
	Delay    *delayResult  `json:"delayRun,omitempty"`
	Burst    *burstResult  `json:"burst,omitempty"`
	Spread   *spreadResult `json:"spread,omitempty"`
	Memory   *memoryResult `json:"memory,omitempty"`

	start time.Time
}

func newReport(c config) *report {
	m := machine{NProc: runtime.NumCPU(), GoVersion: runtime.Version(), LoadStart: loadAverage()}
	if root, err := kubeenv.Root(); err == nil {
		m.Kubernetes, _ = kubeenv.Version(root)
	}
	if out, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(out), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		m.Commit = strings.TrimSpace(string(out))
	}
	fmt.Printf("machine: %d CPUs (%s), load average %s\n", m.NProc, m.CPU, m.LoadStart)
	return &report{Date: time.Now().UTC().Format(time.RFC3339), Machine: m, Writers: c.writers, start: time.Now()}
}

func (r *report) finish() *report {
	r.Machine.LoadEnd = loadAverage()
	r.Duration = time.Since(r.start).Seconds()
	return r
}

func loadAverage() string {
	out, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func (r *report) write(dir, name string) error {
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".md"), r.markdown(), 0o644)
}

func (r *report) markdown() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# The DistributedLock controller: writes, burst, spread, memory\n\n")
	p("Written by `bench/reap` (see `bench/reap/README.md` and `bench/README.md`).\n\n")
	p("- Command: `%s`\n", r.Command)
	p("- Date: %s; the whole run took %.0f s\n", r.Date, r.Duration)
	p("- Machine: %d CPUs (%s), shared with other builds; load average (1, 5, 15 min) %s at the start, %s at the end\n",
		r.Machine.NProc, r.Machine.CPU, r.Machine.LoadStart, r.Machine.LoadEnd)
	p("- %s, commit %s; control plane: envtest kube-apiserver and etcd %s on the same machine\n\n",
		r.Machine.GoVersion, r.Machine.Commit, r.Machine.Kubernetes)

	p("## Summary\n\n| Figure | Goal | Measured |\n|---|---|---|\n")
	if w := r.writesFigure(); w != "" {
		p("| Manager writes per abandoned lease (grant → expiry → reap) | ≤ 2 | %s |\n", w)
	}
	if x := r.Burst; x != nil {
		p("| Burst of %d expiries: reaps/s ÷ raw guarded updates/s (same QPS limits, %d workers) | ≥ 0.8x | %.0f ÷ %.0f = **%.2fx** |\n",
			x.Locks, x.Workers, x.ReapsPerS, x.RawPerS, x.Ratio)
	}
	if x := r.Spread; x != nil {
		p("| Spread (%d expiries over %.0f s): reap delay p99 | ≤ 100 ms | p50 %.0f ms, **p99 %.0f ms**, max %.0f ms |\n",
			x.Locks, x.OverS, x.Delay.P50, x.Delay.P99, x.Delay.Max)
	}
	if x := r.Memory; x != nil && x.Loaded != nil {
		p("| Manager RSS with %d locks in its cache | ≤ 200 MiB | %s |\n", x.Locks, x.summary())
	}
	p("\n")

	if x := r.Burst; x != nil {
		p("## Burst\n\n")
		p("%d held locks (reapPolicy Release) whose `renewTime + leaseDurationSeconds` all lie within %.2f s of each other, "+
			"created in %.1f s by %d clients before the first expiry. The controller runs with %d workers and a client limit of "+
			"QPS %g, burst %d (the manager's defaults).\n\n", x.Locks, x.ExpirySpanS, x.CreatedS, r.Writers, x.Workers, x.QPS, x.QPSBurst)
		p("| | per second |\n|---|---|\n")
		p("| Reaps, first reap to last (%.2f s) | **%.0f** |\n", x.ReapSpanS, x.ReapsPerS)
		p("| Raw: %d guarded Updates (the Release reap's write) from %d goroutines, one client with QPS %g, burst %d | **%.0f** |\n",
			x.Locks, x.Workers, x.QPS, x.QPSBurst, x.RawPerS)
		if x.RawUnlimitedPerS > 0 {
			p("| Raw, same, without a client-side limit (what the server takes) | %.0f |\n", x.RawUnlimitedPerS)
		}
		p("| Creates (the clients' grants, %d at a time, no limit) | %.0f |\n\n", r.Writers, x.CreateRate)
		p("Ratio reaps / raw: **%.2fx**. First reap %.2f s after the first expiry. Reap delay after expiry: %s.\n\n",
			x.Ratio, x.FirstReapAfterS, x.Delay.line())
		r.writesTable(&b, x.Writes, x.Locks)
	}
	if x := r.Spread; x != nil {
		p("## Spread\n\n")
		p("%d held locks, half reapPolicy Release and half Delete, each with a lease of %d s, granted (created) one every %s "+
			"over %.1f s, so that the expiries spread over %.1f s while grants keep arriving at the same rate. Reap delay: from "+
			"`renewTime + leaseDurationSeconds` to the moment the controller's reaping write succeeded (its "+
			"transport saw the answer).\n\n",
			x.Locks, x.LeaseS, (time.Duration(x.OverS*float64(time.Second)) / time.Duration(x.Locks)).String(), x.CreatedS, x.ExpirySpanS)
		p("| min | p50 | p90 | p99 | max |\n|---|---|---|---|---|\n| %.0f ms | %.0f ms | %.0f ms | %.0f ms | %.0f ms |\n\n",
			x.Delay.Min, x.Delay.P50, x.Delay.P90, x.Delay.P99, x.Delay.Max)
		p("Of which the watch delivering the grant: %s; the reaper after the instant the rule lets it reap: %s.\n\n",
			x.SightLag.line(), x.ReaperLag.line())
		r.writesTable(&b, x.Writes, x.Locks)
	}
	if x := r.Delay; x != nil {
		p("## Delay run (bench/compare's)\n\n%d locks, leases %d-%d s, half Release, half Delete, created in %.1f s while the "+
			"first ones expire; all reaped %.1f s after the first create. Reap delay: %s.\n\n",
			x.Locks, x.MinLease, x.MaxLease, x.CreatedS, x.AllReapedS, x.Delay.line())
		r.writesTable(&b, x.Writes, x.Locks)
	}
	if x := r.Memory; x != nil {
		x.markdown(&b)
	}
	return b.Bytes()
}

func (r *report) writesFigure() string {
	var parts []string
	add := func(name string, w writesPerReap) {
		parts = append(parts, fmt.Sprintf("%s: **%.2f** (%.2f reaping + %.2f Events + %.2f status)",
			name, w.Total, w.Reaping, w.Events, w.Status))
	}
	if r.Burst != nil {
		add("burst", r.Burst.WritesPerReap)
	}
	if r.Spread != nil {
		add("spread", r.Spread.WritesPerReap)
	}
	if r.Delay != nil {
		add("delay run", r.Delay.WritesPerReap)
	}
	return strings.Join(parts, "; ")
}

func (r *report) writesTable(b *bytes.Buffer, w writeSplit, n int) {
	fmt.Fprintf(b, "The manager's requests from the first grant to the last Event (counted by its transport), for %d abandoned leases: "+
		"%d writes = %.3f per lease (reaping %d, Events %d, status %d, other %d); reads %d.\n\n",
		n, w.writes(), float64(w.writes())/float64(n), w.Reaping, w.Events, w.Status, w.Other, w.Reads)
	fmt.Fprintf(b, "| Request | Count |\n|---|---|\n")
	for _, k := range slices.Sorted(maps.Keys(w.ByVerb)) {
		fmt.Fprintf(b, "| `%s` | %d |\n", k, w.ByVerb[k])
	}
	fmt.Fprintln(b)
}
