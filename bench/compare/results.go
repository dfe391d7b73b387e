package main

import (
	"encoding/json"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"

	"github.com/leasehold/leasehold/bench/compare/internal/host"
)

// stat is a figure over runs: the median and the spread.
type stat struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Values []float64 `json:"values"`
}

type entry struct {
	Name    string           `json:"name"`
	Group   string           `json:"group"`
	Ours    bool             `json:"ours"`
	Raw     bool             `json:"raw"`
	Figures map[string]*stat `json:"figures"`
	Samples map[string][]int `json:"waitSamples,omitempty"`
}

type reapFigure struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

type results struct {
	Machine     host.Machine `json:"machine"`
	Runs        int          `json:"runs"`
	Window      string       `json:"window"`
	Settings    []string     `json:"settings"`
	Entries     []*entry     `json:"entries"`
	Reap        []reapFigure `json:"reapDelay,omitempty"`
	ReapLocks   int          `json:"reapLocks,omitempty"`
	ReapSummary string       `json:"reapSummary,omitempty"`
	// CLI is the hand-off between lockctl processes beside flock(1), with
	// its own machine record (a run of -only cli alone updates only it).
	CLI *cliResults `json:"cli,omitempty"`
}

func newResults(cfg config) *results {
	m := host.Describe(cfg.repo)
	return &results{Machine: m, Runs: cfg.runs, Window: cfg.duration.String(), Settings: []string{
		fmt.Sprintf("Every figure is the median of %d runs with the min–max spread; each measurement window lasts %s.", cfg.runs, cfg.duration),
		"Uncontended: each worker takes and releases its own key (lease 10 s) as fast as it can; 8 workers share one client (pool) per library.",
		"Renewals: 1 and 8 workers each renew their own held key as fast as they can (one shared client).",
		fmt.Sprintf("Contended: 8 or 32 workers on one key, lease %s, each holds it %s then releases; a releaser stays "+
			"out until someone else is granted, so every wait is a hand-off to a worker already waiting. Wait = next grant "+
			"− the moment the release was sent. The rate is bounded by the hold time. Measured with all workers on one "+
			"shared client (for Leasehold one Manager: a release wakes its longest waiter) and, where a library can open "+
			"clients of its own, with a client per worker (for Leasehold a Manager per worker, as separate processes: a "+
			"release wakes one waiter per Manager). On Kubernetes also the clients' API requests per acquisition (all "+
			"requests in the window, waits and releases included, ÷ grants) and the controller's writes per acquisition.",
			contendedLease, contendedHold),
		fmt.Sprintf("Waiting pairs: as uncontended, with acquires that may wait (Leasehold: Wait = MaxWait, lease %s, "+
			"RefreshPeriod %s; the others their waiting strategy below), each worker with a client of its own (its own "+
			"Manager and connections, as separate processes). New store connections per pair: Redis "+
			"total_connections_received over the window, less one per client; API requests per pair: the counting "+
			"RoundTripper of the Kubernetes clients.", waitPairsLease, waitPairsRefresh),
		fmt.Sprintf("Fairness: 8 workers loop on one key (lease %s): acquire waiting (Leasehold at its default "+
			"RefreshPeriod, lease / 3), hold %s, release, and ask again at once, nothing keeping the releaser out. The "+
			"figure is the busiest worker's share of the grants × 8: 1 is fair, 8 is one worker taking them all. Measured "+
			"with a client of its own per worker, and with one shared client.", contendedLease, contendedHold),
		fmt.Sprintf("Hand-off: one holder and one waiter on one key, holder keeps it %s; the median wait from release "+
			"sent to the waiter's grant.", handoffHold),
		fmt.Sprintf("Failover: lease %s, renewal every %s; the holder stops renewing without releasing (Leasehold: "+
			"backendtest.Faulty Set(Hang) under a Session; client-go: leader election with ReleaseOnCancel=false). Time "+
			"from the holder's last successful renewal to the waiter's grant. Goal: at most lease + one refresh period = %s.",
			failoverLease, failoverRefresh.Round(time.Millisecond), (failoverLease + failoverRefresh).Round(time.Millisecond)),
		"Leasehold waits with Wait > 0 (woken by the backend's notifications: Redis pub/sub, PostgreSQL LISTEN/NOTIFY, " +
			"Kubernetes watch, in-process for SQLite and memory).",
		fmt.Sprintf("bsm/redislock waits with RetryStrategy LinearBackoff(%s) (its README's example; the default is no retry).", redislockRetry),
		"redsync waits with its defaults: 32 tries, 50–250 ms apart at random, then Lock again; expiry as Leasehold's lease.",
		"pglock waits its only way: try, then sleep one lease duration (so its contended waits scale with the lease); " +
			"heartbeats driven explicitly with SendHeartbeat; lib/pq with 16 open and 16 idle connections (Leasehold: " +
			"pgxpool pool_max_conns=16).",
		fmt.Sprintf("client-go Lease lock: resourcelock.LeaseLock as a lock (acquire = Get + Create/Update, renew = "+
			"Update, release = Update clearing the holder, as leader election does); waiters poll every %s + up to 20%% "+
			"jitter; failover with leaderelection (lease %s, renew deadline %s, retry %s). No client-side rate limit on "+
			"either Kubernetes client.", leaseRetry, failoverLease, failoverLease*3/4, leaseRetry),
		"CPU per pair: this process's user+system time (getrusage) and, for Redis, the server's " +
			"used_cpu_user+used_cpu_sys (INFO cpu), over the 8-worker uncontended window, divided by the pairs done; the " +
			"other engineers' load is not in either.",
		"Round trips: Redis and PostgreSQL through a loopback proxy (used only for this count) that counts each time a " +
			"client starts sending after the server spoke, which is what the wire shows (INFO commandstats would also count " +
			"the commands a Lua script runs); Kubernetes from a counting http.RoundTripper. 50 acquire/renew/release " +
			"sequences on one key, one worker.",
		fmt.Sprintf("Kubernetes: the DistributedLock controller runs during every Kubernetes measurement, as in "+
			"production: the controllers package's reconciler in a controller-runtime manager against the same envtest API "+
			"server (real clock, ExpiryRule{ClockSkewAllowance: DefaultClockSkewAllowance}, MaxConcurrentReconciles %d, no "+
			"client-side rate limit), beside the Leasehold clients and beside the Lease lock runs (where it has nothing to "+
			"do). Its requests are counted by a RoundTripper of its own; writes are every request but GET and HEAD (status "+
			"updates, reaps, Events). Controller writes per operation: over the 50 round-trip sequences plus 1 s to catch "+
			"up, ÷ 150 operations; also over the 8-worker pairs window (÷ pairs) and the 8-worker renewals window (÷ "+
			"renewals). Expected 0: the controller writes status only for Expired and Invalid locks.", controllerWorkers),
	}}
}

func (r *results) entry(name, group string, ours, raw bool) *entry {
	for _, e := range r.Entries {
		if e.Name == name {
			return e
		}
	}
	e := &entry{Name: name, Group: group, Ours: ours, Raw: raw, Figures: map[string]*stat{}, Samples: map[string][]int{}}
	r.Entries = append(r.Entries, e)
	return e
}

func (r *results) add(c contender, metric string, v float64) {
	e := r.entry(c.name, c.group, c.ours, false)
	s := e.Figures[metric]
	if s == nil {
		s = &stat{}
		e.Figures[metric] = s
	}
	s.Values = append(s.Values, v)
}

func (r *results) addSamples(c contender, metric string, n int) {
	e := r.entry(c.name, c.group, c.ours, false)
	e.Samples[metric] = append(e.Samples[metric], n)
}

func (r *results) addRaw(name, group, metric string, v float64) {
	e := r.entry(name, group, false, true)
	s := e.Figures[metric]
	if s == nil {
		s = &stat{}
		e.Figures[metric] = s
	}
	s.Values = append(s.Values, v)
}

// line prints the last run's figures of c.
func (r *results) line(c contender) string {
	e := r.entry(c.name, c.group, c.ours, false)
	var parts []string
	for _, m := range metricOrder {
		if s := e.Figures[m.key]; s != nil && len(s.Values) > 0 {
			parts = append(parts, fmt.Sprintf("%s %.4g", m.key, s.Values[len(s.Values)-1]))
		}
	}
	return strings.Join(parts, ", ")
}

func (r *results) finish() {
	for _, e := range r.Entries {
		for _, s := range e.Figures {
			v := slices.Clone(s.Values)
			slices.Sort(v)
			s.Min, s.Max = v[0], v[len(v)-1]
			if len(v)%2 == 1 {
				s.Median = v[len(v)/2]
			} else {
				s.Median = (v[len(v)/2-1] + v[len(v)/2]) / 2
			}
		}
	}
	r.Machine.Finish()
}

type metric struct {
	key, label string
	higher     bool // higher is better
}

var metricOrder = []metric{
	{"pairs1", "acquire+release pairs/s, 1 worker", true},
	{"pairs8", "acquire+release pairs/s, 8 workers", true},
	{"ops1", "single-statement ops/s, 1 client", true},
	{"ops8", "single-statement ops/s, 8 clients", true},
	{"renew1", "renewals/s, 1 worker", true},
	{"renew8", "renewals/s, 8 workers", true},
	{"clientCPU8", "client CPU µs per pair, 8 workers (this process)", false},
	{"serverCPU8", "Redis server CPU µs per pair, 8 workers", false},
	{"rtAcquire", "round trips per acquire", false},
	{"rtRenew", "round trips per renew", false},
	{"rtRelease", "round trips per release", false},
	{"ctrlWritesOp", "controller writes per acquire/renew/release (controller running)", false},
	{"ctrlReqsOp", "controller API requests per acquire/renew/release", false},
	{"ctrlWritesPair8", "controller writes per pair, 8 workers", false},
	{"ctrlWritesRenew8", "controller writes per renewal, 8 workers", false},
	{"c8Rate", "acquisitions/s, 8 waiters on one key", true},
	{"c8P50", "wait release→next holder p50 (ms), 8 waiters", false},
	{"c8P99", "wait release→next holder p99 (ms), 8 waiters", false},
	{"c8Reqs", "client API requests per acquisition, 8 waiters", false},
	{"c8CtrlW", "controller writes per acquisition, 8 waiters", false},
	{"c8oRate", "acquisitions/s, 8 waiters with own clients", true},
	{"c8oP50", "wait p50 (ms), 8 waiters with own clients", false},
	{"c8oP99", "wait p99 (ms), 8 waiters with own clients", false},
	{"c8oReqs", "client API requests per acquisition, 8 waiters with own clients", false},
	{"c8oCtrlW", "controller writes per acquisition, 8 waiters with own clients", false},
	{"c32Rate", "acquisitions/s, 32 waiters on one key", true},
	{"c32P50", "wait p50 (ms), 32 waiters", false},
	{"c32P99", "wait p99 (ms), 32 waiters", false},
	{"c32Reqs", "client API requests per acquisition, 32 waiters", false},
	{"c32CtrlW", "controller writes per acquisition, 32 waiters", false},
	{"c32oRate", "acquisitions/s, 32 waiters with own clients", true},
	{"c32oP50", "wait p50 (ms), 32 waiters with own clients", false},
	{"c32oP99", "wait p99 (ms), 32 waiters with own clients", false},
	{"c32oReqs", "client API requests per acquisition, 32 waiters with own clients", false},
	{"c32oCtrlW", "controller writes per acquisition, 32 waiters with own clients", false},
	{"wpairs1", "waiting acquire+release pairs/s, 1 worker (own client)", true},
	{"wpairs8", "waiting acquire+release pairs/s, 8 workers (own clients)", true},
	{"wconns1", "new store connections per waiting pair, 1 worker", false},
	{"wconns8", "new store connections per waiting pair, 8 workers", false},
	{"wreqs1", "API requests per waiting pair, 1 worker", false},
	{"wreqs8", "API requests per waiting pair, 8 workers", false},
	{"fairOwn8", "fairness: busiest of 8 re-acquiring workers' share × 8 (own clients; 1 = fair)", false},
	{"againOwn8", "share of grants to the worker that just released (own clients; 0.125 at random)", false},
	{"fairShared8", "fairness: the same, 8 workers sharing one client", false},
	{"againShared8", "share of grants to the worker that just released (shared client)", false},
	{"handoff", "clean hand-off, 1 waiter (ms)", false},
	{"failover", "failover after last renewal (ms), lease 2 s", false},
}

func fmtStat(s *stat) string {
	if s == nil {
		return "–"
	}
	if len(s.Values) == 1 || s.Min == s.Max {
		return num(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(s.Median), num(s.Min), num(s.Max))
}

func num(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func (r *results) fig(name, metric string) *stat {
	for _, e := range r.Entries {
		if e.Name == name {
			return e.Figures[metric]
		}
	}
	return nil
}

// goal is one of the comparison's targets, judged on medians.
type goal struct {
	what          string
	ours, against string // entry names
	metric        string
	againstMetric string
	// want is the ratio ours/against (higher-better metrics) or
	// against/ours (lower-better) that meets the goal.
	want   float64
	higher bool
}

func (r *results) write(dir string) error { return r.writeFiles(dir, true) }

// writeFiles writes results.md and results.json, and with chart pairs.png
// when there are pair figures.
func (r *results) writeFiles(dir string, chart bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "# Leasehold against the lock libraries people use\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (bench/compare). Machine: %d CPUs, %s; %s; run %s at commit %s, took %s.\n",
		m.CPUs, m.CPUModel, m.GoVersion, m.Date, m.Commit, m.Elapsed)
	fmt.Fprintf(&b, "Load average at start %s, at end %s (the machine is shared with other builds: absolute figures "+
		"are noisy, ratios within one run are the point).\n\n", m.LoadAtStart, m.LoadAtEnd)

	b.WriteString("## Ratios and goals\n\n")
	b.WriteString("Medians. For throughput the ratio is Leasehold ÷ other (higher is better for Leasehold); for waits " +
		"it is other ÷ Leasehold (how many times lower Leasehold's wait is).\n\n")
	b.WriteString("| Figure | Leasehold | Other | Leasehold | Other | Ratio | Goal | Met |\n|---|---|---|---|---|---|---|---|\n")
	for _, g := range r.goals() {
		o, a := r.fig(g.ours, g.metric), r.fig(g.against, g.againstMetric)
		if o == nil || a == nil {
			continue
		}
		ratio := o.Median / a.Median
		if !g.higher {
			ratio = a.Median / o.Median
		}
		goalText, met := "–", ""
		if g.want > 0 {
			goalText = fmt.Sprintf("≥ %.1fx", g.want)
			met = "yes"
			if ratio < g.want {
				met = "**no**"
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2fx | %s | %s |\n", g.what, g.ours, g.against, fmtStat(o), fmtStat(a), ratio, goalText, met)
	}
	b.WriteString("\n")
	r.absoluteGoals(&b)

	r.allFigures(&b)
	if len(r.Reap) > 0 {
		fmt.Fprintf(&b, "## Reap delay after expiry (controller, %d locks, bench/reap)\n\n```\n%s\n```\n\n", r.ReapLocks, r.ReapSummary)
	}
	if r.CLI != nil {
		r.CLI.markdown(&b)
	}
	b.WriteString("The manager's memory at 100,000 locks is measured by bench/reap.\n\n## Settings\n\n")
	for _, s := range r.Settings {
		fmt.Fprintf(&b, "- %s\n", s)
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if !chart {
		fmt.Printf("wrote %s and results.json\n\n%s", filepath.Join(dir, "results.md"), b.String())
		return nil
	}
	if r.fig("Leasehold redis", "pairs1") != nil || r.fig("Leasehold memory", "pairs1") != nil ||
		r.fig("Leasehold postgres", "pairs1") != nil {
		if err := r.chart(filepath.Join(dir, "pairs.png")); err != nil {
			return fmt.Errorf("drawing the chart: %w", err)
		}
	}
	fmt.Printf("wrote %s, results.json and pairs.png\n\n%s", filepath.Join(dir, "results.md"), b.String())
	return nil
}

func (r *results) goals() []goal {
	return []goal{
		{"pairs/s, 1 worker", "Leasehold redis", "bsm/redislock", "pairs1", "pairs1", 1.0, true},
		{"pairs/s, 8 workers", "Leasehold redis", "bsm/redislock", "pairs8", "pairs8", 1.3, true},
		{"pairs/s, 1 worker", "Leasehold redis", "redsync", "pairs1", "pairs1", 0, true},
		{"pairs/s, 8 workers", "Leasehold redis", "redsync", "pairs8", "pairs8", 0, true},
		{"pairs/s vs raw limit, 1 worker", "Leasehold redis", "redis-benchmark", "pairs1", "pairs1", 0, true},
		{"pairs/s vs raw limit, 8 workers", "Leasehold redis", "redis-benchmark", "pairs8", "pairs8", 0, true},
		{"client CPU per pair, 8 workers", "Leasehold redis", "bsm/redislock", "clientCPU8", "clientCPU8", 0, false},
		{"Redis server CPU per pair, 8 workers", "Leasehold redis", "bsm/redislock", "serverCPU8", "serverCPU8", 0, false},
		{"pairs/s, 1 worker", "Leasehold postgres", "pglock", "pairs1", "pairs1", 1.8, true},
		{"pairs/s, 8 workers", "Leasehold postgres", "pglock", "pairs8", "pairs8", 1.8, true},
		{"pairs/s vs raw limit, 1 worker", "Leasehold postgres", "pgbench", "pairs1", "pairs1", 0, true},
		{"pairs/s vs raw limit, 8 workers", "Leasehold postgres", "pgbench", "pairs8", "pairs8", 0, true},
		{"pairs/s, 1 worker", "Leasehold kubernetes", "client-go Lease", "pairs1", "pairs1", 1.0, true},
		{"pairs/s, 8 workers", "Leasehold kubernetes", "client-go Lease", "pairs8", "pairs8", 1.0, true},
		{"renewals/s, 1 worker (controller running)", "Leasehold kubernetes", "client-go Lease", "renew1", "renew1", 1.0, true},
		{"renewals/s, 8 workers (controller running)", "Leasehold kubernetes", "client-go Lease", "renew8", "renew8", 1.0, true},
		{"renewals/s vs raw DistributedLock updates/s, 1 worker", "Leasehold kubernetes", "raw DistributedLock update",
			"renew1", "ops1", 0, true},
		{"renewals/s vs raw DistributedLock updates/s, 8 workers", "Leasehold kubernetes", "raw DistributedLock update",
			"renew8", "ops8", 0, true},
		{"raw updates/s, DistributedLock vs Lease, 1 worker", "raw DistributedLock update", "raw Lease update", "ops1", "ops1", 0, true},
		{"raw updates/s, DistributedLock vs Lease, 8 workers", "raw DistributedLock update", "raw Lease update", "ops8", "ops8", 0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 1 worker", "Leasehold redis", "bsm/redislock", "wpairs1", "wpairs1", 0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 8 workers", "Leasehold redis", "bsm/redislock", "wpairs8", "wpairs8", 0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 1 worker", "Leasehold postgres", "pglock", "wpairs1", "wpairs1", 0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 8 workers", "Leasehold postgres", "pglock", "wpairs8", "wpairs8", 0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 1 worker", "Leasehold kubernetes", "client-go Lease",
			"wpairs1", "wpairs1", 1.0, true},
		{"waiting pairs/s (Wait > 0, free key, own clients), 8 workers", "Leasehold kubernetes", "client-go Lease",
			"wpairs8", "wpairs8", 1.0, true},
		{"fairness, 8 re-acquiring workers, own clients", "Leasehold redis", "bsm/redislock", "fairOwn8", "fairOwn8", 0, false},
		{"fairness, 8 re-acquiring workers, own clients", "Leasehold postgres", "pglock", "fairOwn8", "fairOwn8", 0, false},
		{"fairness, 8 re-acquiring workers, own clients", "Leasehold kubernetes", "client-go Lease", "fairOwn8", "fairOwn8", 0, false},
		{"renewals/s, 8 workers", "Leasehold redis", "bsm/redislock", "renew8", "renew8", 0, true},
		{"renewals/s, 8 workers", "Leasehold postgres", "pglock", "renew8", "renew8", 0, true},
		{"acquisitions/s, 8 waiters", "Leasehold redis", "bsm/redislock", "c8Rate", "c8Rate", 0, true},
		{"acquisitions/s, 8 waiters", "Leasehold postgres", "pglock", "c8Rate", "c8Rate", 0, true},
		{"acquisitions/s, 8 waiters", "Leasehold kubernetes", "client-go Lease", "c8Rate", "c8Rate", 0, true},
		{"p99 wait, 8 waiters", "Leasehold redis", "bsm/redislock", "c8P99", "c8P99", 10, false},
		{"p99 wait, 8 waiters", "Leasehold redis", "redsync", "c8P99", "c8P99", 10, false},
		{"p99 wait, 8 waiters", "Leasehold postgres", "pglock", "c8P99", "c8P99", 10, false},
		{"p99 wait, 8 waiters", "Leasehold kubernetes", "client-go Lease", "c8P99", "c8P99", 10, false},
		{"p99 wait, 32 waiters", "Leasehold redis", "bsm/redislock", "c32P99", "c32P99", 10, false},
		{"p99 wait, 32 waiters", "Leasehold redis", "redsync", "c32P99", "c32P99", 10, false},
		{"p99 wait, 32 waiters", "Leasehold postgres", "pglock", "c32P99", "c32P99", 10, false},
		{"p99 wait, 32 waiters", "Leasehold kubernetes", "client-go Lease", "c32P99", "c32P99", 10, false},
		{"p99 wait, 8 waiters with own clients", "Leasehold redis", "bsm/redislock", "c8oP99", "c8oP99", 0, false},
		{"p99 wait, 8 waiters with own clients", "Leasehold kubernetes", "client-go Lease", "c8oP99", "c8oP99", 0, false},
		{"p99 wait, 32 waiters with own clients (a Manager each)", "Leasehold kubernetes", "client-go Lease", "c32oP99", "c32oP99", 10, false},
		{"client API requests per acquisition, 32 waiters (lower is better)", "Leasehold kubernetes", "client-go Lease",
			"c32Reqs", "c32Reqs", 0, false},
		{"client API requests per acquisition, 32 waiters with own clients (lower is better)", "Leasehold kubernetes",
			"client-go Lease", "c32oReqs", "c32oReqs", 0, false},
		{"failover (lower is better)", "Leasehold redis", "bsm/redislock", "failover", "failover", 0, false},
		{"failover (lower is better)", "Leasehold postgres", "pglock", "failover", "failover", 0, false},
		{"failover (lower is better)", "Leasehold kubernetes", "client-go Lease", "failover", "failover", 0, false},
	}
}

// allFigures writes the "All figures" section: a table per group of
// entries, every metric one of them has in a row.
func (r *results) allFigures(b *strings.Builder) {
	groups := []string{"Redis", "PostgreSQL", "Kubernetes", "SQLite", "Memory"}
	b.WriteString("## All figures\n\nMedian (min–max) over the runs.\n\n")
	for _, g := range groups {
		var es []*entry
		for _, e := range r.Entries {
			if e.Group == g {
				es = append(es, e)
			}
		}
		if len(es) == 0 {
			continue
		}
		fmt.Fprintf(b, "### %s\n\n| Figure |", g)
		for _, e := range es {
			fmt.Fprintf(b, " %s |", e.Name)
		}
		b.WriteString("\n|---|" + strings.Repeat("---|", len(es)) + "\n")
		for _, mt := range metricOrder {
			any := false
			for _, e := range es {
				any = any || e.Figures[mt.key] != nil
			}
			if !any {
				continue
			}
			fmt.Fprintf(b, "| %s |", mt.label)
			for _, e := range es {
				fmt.Fprintf(b, " %s |", fmtStat(e.Figures[mt.key]))
			}
			b.WriteString("\n")
		}
		b.WriteString("| wait samples per run (8 / 32 waiters; with own clients) |")
		for _, e := range es {
			if len(e.Samples["c8"]) == 0 {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(b, " %v / %v; %v / %v |", e.Samples["c8"], e.Samples["c32"], e.Samples["c8o"], e.Samples["c32o"])
		}
		b.WriteString("\n\n")
	}
}

// absoluteGoals reports the goals that are bounds rather than ratios.
func (r *results) absoluteGoals(b *strings.Builder) {
	bound := ms(failoverLease + failoverRefresh)
	b.WriteString("| Goal | Backend | Measured (median, min–max) | Met |\n|---|---|---|---|\n")
	for _, e := range r.Entries {
		if !e.Ours {
			continue
		}
		check := func(what string, s *stat, ok func(float64) bool) {
			if s == nil {
				return
			}
			met := "yes"
			if !ok(s.Max) {
				met = "**no**"
				if ok(s.Median) {
					met = "median yes, worst run no"
				}
			}
			fmt.Fprintf(b, "| %s | %s | %s | %s |\n", what, e.Name, fmtStat(s), met)
		}
		if e.Group != "SQLite" && e.Group != "Memory" {
			for _, k := range []string{"rtAcquire", "rtRenew", "rtRelease"} {
				check("one round trip per "+strings.ToLower(strings.TrimPrefix(k, "rt")), e.Figures[k], func(v float64) bool { return v <= 1.0 })
			}
		}
		check(fmt.Sprintf("failover ≤ lease + refresh (%.0f ms)", bound), e.Figures["failover"], func(v float64) bool { return v <= bound })
		check("clean hand-off < 50 ms", e.Figures["handoff"], func(v float64) bool { return v < 50 })
		for _, k := range []string{"ctrlWritesOp", "ctrlWritesPair8", "ctrlWritesRenew8"} {
			check("no controller write per operation ("+k+")", e.Figures[k], func(v float64) bool { return v == 0 })
		}
	}
	b.WriteString("\n")
}

// chart draws acquire+release pairs/s with 1 and 8 workers per
// implementation, on a log scale.
func (r *results) chart(path string) error {
	var names []string
	var one, eight plotter.Values
	for _, e := range r.Entries {
		p1, p8 := e.Figures["pairs1"], e.Figures["pairs8"]
		if p1 == nil || p8 == nil {
			continue
		}
		name := e.Name
		if e.Raw {
			name += " ÷2"
		}
		names = append(names, name)
		one = append(one, math.Log10(max(p1.Median, 1)))
		eight = append(eight, math.Log10(max(p8.Median, 1)))
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Acquire+release pairs/s, median of %d runs (%d CPUs, load %s)", r.Runs, r.Machine.CPUs, r.Machine.LoadAtStart)
	// Bars start at zero, which a log axis cannot show: plot log10 of the
	// rate on a linear axis and label the ticks with the rate.
	p.Y.Label.Text = "pairs per second (log scale)"
	p.Y.Tick.Marker = powersOfTen{}
	w := vg.Points(12)
	b1, err := plotter.NewBarChart(one, w)
	if err != nil {
		return err
	}
	b1.Color = plotutil.Color(0)
	b1.Offset = -w / 2
	b8, err := plotter.NewBarChart(eight, w)
	if err != nil {
		return err
	}
	b8.Color = plotutil.Color(1)
	b8.Offset = w / 2
	b1.LineStyle.Color, b8.LineStyle.Color = color.Black, color.Black
	p.Add(b1, b8, plotter.NewGrid())
	p.Legend.Add("1 worker", b1)
	p.Legend.Add("8 workers", b8)
	p.Legend.Top = true
	p.Legend.Left = true
	top := 0.0
	for i := range one {
		top = max(top, one[i], eight[i])
	}
	p.Y.Max = math.Ceil(top + 0.2)
	p.NominalX(names...)
	p.Y.Min = 0
	p.X.Tick.Label.Rotation = 0.6
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.5
	return p.Save(vg.Points(float64(220+len(names)*70)), 12*vg.Centimeter, path)
}

// powersOfTen labels a log10 axis with the powers of ten it spans.
type powersOfTen struct{}

func (powersOfTen) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		ts = append(ts, plot.Tick{Value: k, Label: strconv.FormatFloat(math.Pow(10, k), 'f', -1, 64)})
	}
	return ts
}
