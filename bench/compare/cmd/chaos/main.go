// Command chaos runs the chaos workload (test/support/workload) on the
// lock libraries people use today, bsm/redislock, redsync, pglock and
// client-go leader election, side by side with Leasehold on the same
// servers in the same run: every scenario that applies, for every (store,
// library) pair. It never fails on a violation (it is a measurement): it
// prints workload.Table and writes chaos.md and chaos.json under
// bench/results/. See bench/README.md.
//
// The same binary is also the holder process of the process scenarios
// (holder-killed, holder-paused): re-executed with targetEnv set, it runs
// workload.RunHolderProcess on the library and server that variable names.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	goredis "github.com/redis/go-redis/v9"
	"k8s.io/klog/v2"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	kbackend "github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/history"
	"github.com/leasehold/leasehold/test/support/workload"
)

// The stores.
const (
	storeRedis      = "redis"
	storePostgres   = "postgres"
	storeKubernetes = "kubernetes"
)

// lockersOf lists the libraries compared on each store, Leasehold first.
var lockersOf = map[string][]string{
	storeRedis:      {lockerLeasehold, lockerRedislock, lockerRedsync},
	storePostgres:   {lockerLeasehold, lockerPglock},
	storeKubernetes: {lockerLeasehold, lockerElection},
}

type options struct {
	repo, out, name   string
	cfg               workload.Config
	stores            []string
	lockers           map[string]bool // nil: all
	scenarios         map[string]bool // nil: all
	sequential        bool
	evidencePerResult int
}

func main() {
	// Neither client-go's leader election nor controller-runtime may log
	// into the report.
	klog.SetLogger(logr.Discard())
	logf.SetLogger(logr.Discard())
	goredis.SetLogger(quiet{})
	if workload.HolderProcess() {
		os.Exit(runHolder())
	}
	var (
		o                          options
		stores, lockers, scenarios string
	)
	flag.StringVar(&o.repo, "repo", "../..", "The repository root (for the envtest binaries, the CRDs and bench/results).")
	flag.StringVar(&o.out, "out", "", "Folder for the report (default REPO/bench/results).")
	flag.StringVar(&o.name, "name", "chaos", "The report's file name without extension: NAME.md and NAME.json.")
	flag.DurationVar(&o.cfg.Duration, "duration", 60*time.Second,
		"How long each scenario injects faults (a fault in progress is always finished and healed, then every key must be granted again).")
	flag.IntVar(&o.cfg.Clients, "clients", 8, "Clients per scenario, contending for two keys (the process scenarios: one key).")
	flag.DurationVar(&o.cfg.Lease, "lease", 2*time.Second,
		"Every grant's lease, for every library (whole seconds: client-go's Lease holds seconds).")
	flag.DurationVar(&o.cfg.SafetyMargin, "safety-margin", 500*time.Millisecond,
		"Leasehold's safety margin (WithSafetyMargin); the other libraries have no such option.")
	flag.StringVar(&stores, "stores", "redis,postgres,kubernetes", "Comma-separated subset of redis, postgres, kubernetes.")
	flag.StringVar(&lockers, "lockers", "",
		"Comma-separated subset of leasehold, redislock, redsync, pglock, client-go-leaderelection (default all).")
	flag.StringVar(&scenarios, "scenarios", "", "Comma-separated subset of the scenarios (default every one that applies).")
	flag.BoolVar(&o.sequential, "sequential", false,
		"Run the stores one after another rather than side by side (the workload mostly sleeps; side by side takes a third of the time).")
	flag.DurationVar(&o.cfg.Liveness, "liveness", 90*time.Second,
		"Bound on every wait for progress (a stuck client, no grant after the faults healed): the scenario is then reported as not judged.")
	flag.IntVar(&o.evidencePerResult, "evidence", 3, "Violations quoted per row of the report (all are counted).")
	flag.Parse()
	if o.cfg.Lease < time.Second || o.cfg.Lease%time.Second != 0 {
		fmt.Fprintln(os.Stderr, "chaos: -lease must be a whole number of seconds, at least 1s (client-go's Lease records whole seconds)")
		os.Exit(2)
	}
	if o.cfg.Duration <= 0 || o.cfg.Clients < 2 {
		fmt.Fprintln(os.Stderr, "chaos: -duration must be positive and -clients at least 2")
		os.Exit(2)
	}
	// The anchors read the settings: every unset one at chaos's default.
	o.cfg = o.cfg.WithDefaults()
	o.stores = split(stores)
	for _, s := range o.stores {
		if _, ok := lockersOf[s]; !ok {
			fmt.Fprintf(os.Stderr, "chaos: unknown store %q\n", s)
			os.Exit(2)
		}
	}
	if l := split(lockers); len(l) > 0 {
		o.lockers = set(l)
	}
	if s := split(scenarios); len(s) > 0 {
		o.scenarios = set(s)
	}
	if o.out == "" {
		o.out = filepath.Join(o.repo, "bench", "results")
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
}

// quiet drops go-redis's own log lines (dial failures while a server
// restarts or a client is partitioned): the report counts what matters.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

func split(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func set(s []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range s {
		m[v] = true
	}
	return m
}

// row is one (store, library, scenario) outcome: a Result, or the reason
// it could not be judged (a client stuck, no recovery after the faults).
type row struct {
	workload.Result
	Error string `json:",omitempty"`
	// ViolationsOmitted counts the violations left out of chaos.json.
	ViolationsOmitted int `json:",omitempty"`
}

func run(o options) error {
	rep := newReport(o)
	fmt.Printf("machine: %s\n", rep.Machine)
	ctx := context.Background()

	var (
		mu   sync.Mutex
		rows []row
		wg   sync.WaitGroup
		errs []error
	)
	add := func(r row) {
		mu.Lock()
		defer mu.Unlock()
		rows = append(rows, r)
		status := fmt.Sprintf("%d acquisitions, %d faults, %d overlaps, %d stale writes accepted",
			r.Acquisitions, r.Faults, r.Overlaps, r.StaleAccepted)
		if r.Error != "" {
			status = "not judged: " + r.Error
		}
		fmt.Printf("%-10s %-24s %-26s %s (%s)\n", r.Store, r.Scenario, r.Locker, status, r.Took.Round(time.Second))
	}
	for _, name := range o.stores {
		runStore := func() {
			st, stop, err := startStore(o, name)
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
				return
			}
			defer stop()
			runScenarios(ctx, o, st, add)
		}
		if o.sequential {
			runStore()
			continue
		}
		wg.Go(runStore)
	}
	wg.Wait()
	if len(errs) > 0 && len(rows) == 0 {
		return fmt.Errorf("no store started: %v", errs)
	}
	for _, err := range errs {
		fmt.Fprintln(os.Stderr, "chaos:", err)
	}
	results := make([]workload.Result, 0, len(rows))
	for _, r := range rows {
		if r.Error == "" {
			results = append(results, r.Result)
		}
	}
	fmt.Printf("\nchaos results (%d clients, %s per scenario, lease %s, Leasehold safety margin %s):\n%s",
		o.cfg.Clients, o.cfg.Duration, o.cfg.Lease, o.cfg.SafetyMargin, workload.Table(results))
	rep.finish(rows)
	return rep.write(o.out, o.name)
}

// runScenarios runs every selected scenario that applies on st, each for
// every library in turn, so that a library and its Leasehold twin meet
// the same load.
func runScenarios(ctx context.Context, o options, st *store, add func(row)) {
	for _, sc := range workload.Scenarios(kbackend.DefaultSkewAllowance) {
		if o.scenarios != nil && !o.scenarios[sc.Name] {
			continue
		}
		for _, locker := range lockersOf[st.name] {
			if o.lockers != nil && !o.lockers[locker] {
				continue
			}
			base := row{Result: workload.Result{Locker: locker, Store: st.name, Scenario: sc.Name}}
			c, err := st.open(ctx, o.cfg, locker, workload.Namespace(st.name, sc.Name))
			if err != nil {
				base.Error = "opening the clients: " + err.Error()
				add(base)
				continue
			}
			if sc.Applies == nil || sc.Applies(c) {
				began := time.Now()
				r, err := workload.Run(ctx, o.cfg, c, sc)
				if err != nil {
					base.Error, base.Took = err.Error(), time.Since(began)
					add(base)
				} else {
					add(row{Result: r})
				}
			}
			if err := c.Close(); err != nil {
				fmt.Fprintf(os.Stderr, "chaos: %s %s %s: closing: %v\n", st.name, sc.Name, locker, err)
			}
		}
	}
}

// evidence returns up to n violations of each kind from r, the ones that
// fail first.
func evidence(r workload.Result, n int) []history.Violation {
	var out []history.Violation
	count := map[history.Kind]int{}
	for _, v := range slices.Concat(r.Failures(), r.Violations) {
		if count[v.Kind] >= n || slices.Contains(out, v) {
			continue
		}
		count[v.Kind]++
		out = append(out, v)
	}
	return out
}
