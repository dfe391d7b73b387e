package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/leasehold/leasehold/bench/compare/internal/host"
	"github.com/leasehold/leasehold/test/support/workload"
)

type settings struct {
	Clients      int      `json:"clients"`
	Keys         []string `json:"keys"`
	Duration     string   `json:"durationPerScenario"`
	Lease        string   `json:"lease"`
	SafetyMargin string   `json:"leaseholdSafetyMargin"`
	Stores       []string `json:"stores"`
	Notes        []string `json:"notes"`
}

type report struct {
	Machine  host.Machine `json:"machine"`
	Settings settings     `json:"settings"`
	Rows     []row        `json:"results"`
	evidence int
}

func newReport(o options) *report {
	m := host.Describe(o.repo)
	renewDeadline, retry := electionTimings(o.cfg.Lease)
	keys := o.cfg.Keys
	return &report{Machine: m, evidence: o.evidencePerResult, Settings: settings{
		Clients: o.cfg.Clients, Keys: keys, Duration: o.cfg.Duration.String(), Lease: o.cfg.Lease.String(),
		SafetyMargin: o.cfg.SafetyMargin.String(), Stores: o.stores,
		Notes: []string{
			fmt.Sprintf("Every library: %d clients on %d keys (the process scenarios: one key, plus a holder process), each "+
				"looping Hold, work (0-300 ms; partition-long-work 0.5-2 s) while watching the lease's context, a write to the "+
				"protected resource only while that context is alive, release. Lease %s for every library; each client has its "+
				"own connection through a fault proxy of its own in front of the same server.", o.cfg.Clients, len(keys), o.cfg.Lease),
			fmt.Sprintf("leasehold: lockmanager.Hold (Session), refresh every lease/3, safety margin %s; its writes carry "+
				"the Session's fencing token and the resource refuses a lower one.", o.cfg.SafetyMargin),
			fmt.Sprintf("redislock (bsm/redislock v0.9.4): Obtain(key, TTL=lease, LinearBackoff(%s)), Refresh(TTL=lease) "+
				"every lease/3 by a loop of the caller's, belief ends when a Refresh fails or returns ErrNotObtained; go-redis "+
				"v9 at its defaults (read/write timeouts 3 s).", redislockRetry),
			"redsync (v4.18.1, one Redis node): NewMutex(key, WithExpiry(lease)), LockContext (32 tries 50-250 ms apart, " +
				"again until the acquire gives up), ExtendContext every lease/3, belief ends when an Extend fails or returns " +
				"false; go-redis v9 at its defaults.",
			"pglock (cirello.io/pglock v1.16.2, lib/pq): WithLeaseDuration(lease), WithHeartbeatFrequency(lease/3), " +
				"Client.Do, whose context is cancelled when its heartbeat detects the loss; a table per scenario.",
			fmt.Sprintf("client-go-leaderelection (client-go v0.37.2): a LeaderElector per Hold on a coordination.k8s.io "+
				"Lease per key, LeaseDuration %s, RenewDeadline %s, RetryPeriod %s (client-go's 15 s / 10 s / 2 s scaled), "+
				"ReleaseOnCancel; the lease's context is OnStartedLeading's; Release ends the term. No client-side rate limit "+
				"on either Kubernetes client.", o.cfg.Lease, renewDeadline.Round(time.Millisecond), retry.Round(time.Millisecond)),
			"Overlaps: pairs of clients whose believed intervals on one key overlap, on one monotonic clock. Stale writes " +
				"accepted: writes the protected resource accepted after a write from a newer grant (Leasehold: a lower fencing " +
				"token; libraries without tokens write unfenced, numbered in the order their grants were believed, so the " +
				"count is the writes a fenced resource would have refused). Leases lost: leases that ended before their holder " +
				"released them.",
			"(allowed): no lease can prevent that overlap (a frozen process, a store that forgot its grants, clocks wrong " +
				"beyond the allowance); the goal there is zero stale writes accepted. Kubernetes is workload.KubeServer " +
				"(envtest; a restart restarts kube-apiserver, etcd keeps the data); the clock-skew scenarios apply to " +
				"Leasehold only (client-go's LeaderElector takes no clock).",
			fmt.Sprintf("chaos.json keeps every count and the first %d violations of each kind per row (ViolationsOmitted "+
				"says how many more).", jsonViolations),
		},
	}}
}

// jsonViolations bounds the violations of each kind kept per row in
// chaos.json: a frozen holder overlaps every grant made while it is
// frozen, tens of thousands in a long run.
const jsonViolations = 20

func (r *report) finish(rows []row) {
	r.Rows = slices.Clone(rows)
	slices.SortStableFunc(r.Rows, func(a, b row) int {
		return cmp.Or(cmp.Compare(a.Store, b.Store), cmp.Compare(a.Scenario, b.Scenario), cmp.Compare(a.Locker, b.Locker))
	})
	r.Machine.Finish()
}

func (r *report) write(dir, name string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var results []workload.Result
	var failed []row
	for _, x := range r.Rows {
		if x.Error != "" {
			failed = append(failed, x)
			continue
		}
		results = append(results, x.Result)
	}
	var b strings.Builder
	m, s := r.Machine, r.Settings
	b.WriteString("# Chaos: Leasehold beside the lock libraries people use today\n\n")
	fmt.Fprintf(&b, "Written by `make bench-chaos` (bench/compare/cmd/chaos) on %s. Machine: %d CPUs, %s; %s; load "+
		"average %s at start, %s at end; commit %s; took %s.\n\n",
		m.Date, m.CPUs, m.CPUModel, m.GoVersion, m.LoadAtStart, m.LoadAtEnd, m.Commit, m.Elapsed)
	fmt.Fprintf(&b, "Settings: %d clients, keys %s, %s of faults per scenario, lease %s, Leasehold safety margin %s; stores %s.\n\n",
		s.Clients, strings.Join(s.Keys, ", "), s.Duration, s.Lease, s.SafetyMargin, strings.Join(s.Stores, ", "))
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n## Results\n\n")
	b.WriteString(workload.Markdown(results))
	if len(failed) > 0 {
		b.WriteString("\n## Not judged\n\nThese runs could not be judged (a client stuck, or no grant after the faults healed):\n\n")
		for _, x := range failed {
			fmt.Fprintf(&b, "- %s / %s / %s: %s\n", x.Store, x.Scenario, x.Locker, x.Error)
		}
	}
	b.WriteString("\n## Evidence\n\nThe first violations of each kind per row (all are counted above; chaos.json has every one).\n\n")
	for _, x := range r.Rows {
		if x.Error != "" || len(x.Violations) == 0 {
			continue
		}
		fmt.Fprintf(&b, "- %s / %s / %s:\n", x.Store, x.Scenario, x.Locker)
		for _, v := range evidence(x.Result, r.evidence) {
			fmt.Fprintf(&b, "  - %s\n", v)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	trimmed := *r
	trimmed.Rows = make([]row, len(r.Rows))
	for i, x := range r.Rows {
		kept := evidence(x.Result, jsonViolations)
		x.ViolationsOmitted = len(x.Violations) - len(kept)
		x.Violations = kept
		trimmed.Rows[i] = x
	}
	j, err := json.MarshalIndent(trimmed, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), append(j, '\n'), 0o644)
}
