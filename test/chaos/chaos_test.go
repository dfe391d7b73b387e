//go:build chaos

package chaos

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/test/support/history"
	"github.com/leasehold/leasehold/test/support/testserver"
	"github.com/leasehold/leasehold/test/support/workload"
)

var (
	duration = flag.Duration("chaos.duration", 3*time.Second, "how long each scenario's workload runs with faults (a fault in progress is always finished and healed)")
	clients  = flag.Int("chaos.clients", 8, "clients per scenario, contending for two keys")
)

// config is every scenario's settings: the package defaults (lease 2 s,
// safety margin 500 ms) with the flags' duration and clients.
func config() workload.Config {
	return workload.Config{Clients: *clients, Duration: *duration}
}

var (
	pgServer    *testserver.Postgres
	redisServer *testserver.Redis
)

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if u := os.Getenv(holderURLEnv); u != "" && workload.HolderProcess() {
		return runHolder(u)
	}
	flag.Parse()
	pg, stopPG, err := testserver.StartPostgresForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting PostgreSQL:", err)
		return 1
	}
	rs, stopRedis, err := testserver.StartRedisForMain()
	if err != nil {
		stopPG()
		fmt.Fprintln(os.Stderr, "starting Redis:", err)
		return 1
	}
	stopKube, err := startKubernetes()
	if err != nil {
		stopRedis()
		stopPG()
		fmt.Fprintln(os.Stderr, "starting Kubernetes:", err)
		return 1
	}
	pgServer, redisServer = pg, rs
	code := m.Run()
	if err := stopKube(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping Kubernetes:", err)
		code = 1
	}
	stopRedis()
	stopPG()
	if code == 0 {
		// controller-runtime wraps a metadata-only watch (the
		// reconciler's watch of Pods) in a filter whose goroutine can
		// stay blocked sending its last event after the manager that read
		// it has stopped.
		if err := goleak.Find(goleak.IgnoreTopFunction("k8s.io/apimachinery/pkg/watch.(*filteredWatch).loop")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// maxLogged bounds the allowed overlaps logged per scenario (all are
// counted in the report).
const maxLogged = 5

var (
	resultsMu sync.Mutex
	results   []workload.Result
)

// skewAllowance is the Kubernetes backend's default skew allowance, which
// every Kubernetes client of the scenarios uses.
const skewAllowance = kubernetes.DefaultSkewAllowance

func TestChaos(t *testing.T) {
	resultsMu.Lock()
	results = nil // a fresh report for each -count
	resultsMu.Unlock()
	// The backends run side by side (the workload mostly sleeps), each
	// with its scenarios in turn. Calling t.Run from goroutines rather
	// than t.Parallel keeps that independent of -parallel, which is
	// GOMAXPROCS (2) on CI.
	var wg sync.WaitGroup
	for _, b := range allBackends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.Run(b.name, func(t *testing.T) {
				for _, sc := range workload.Scenarios(skewAllowance) {
					dir, err := os.MkdirTemp("", "leasehold-chaos-")
					if err != nil {
						t.Fatal(err)
					}
					c, err := b.open(dir, workload.Namespace(b.name, sc.Name))
					// Only the scenarios whose fault exists on this store
					// run (no network on memory, no client clocks deciding
					// expiry but on Kubernetes): no subtest for the rest.
					if err == nil && (sc.Applies == nil || sc.Applies(c)) {
						t.Run(sc.Name, func(t *testing.T) { runScenario(t, c, sc) })
					}
					if err == nil {
						err = c.Close()
					}
					if err != nil {
						t.Errorf("%s: %v", sc.Name, err)
					}
					_ = os.RemoveAll(dir)
				}
			})
		}()
	}
	wg.Wait()
	resultsMu.Lock()
	defer resultsMu.Unlock()
	t.Logf("chaos results (%d clients, %s per scenario, lease 2s, safety margin 500ms):\n%s", *clients, *duration, workload.Table(results))
	if fences := workload.FenceTable(results); fences != "" {
		t.Logf("writes to the real protected resources, late ones from holders resumed past their lease:\n%s", fences)
	}
}

func runScenario(t *testing.T, c *workload.Cluster, sc workload.Scenario) {
	r, err := workload.Run(context.Background(), config(), c, sc)
	if err != nil && r.Scenario == "" {
		t.Fatal(err)
	}
	if err != nil {
		// Judged, but without the evidence the scenario needs (a fenced
		// run that refused no late write): its violations and its row in
		// the report still count.
		t.Error(err)
	}
	logged := 0
	for _, v := range r.Violations {
		if v.Kind == history.Overlap && r.OverlapAllowed {
			if logged++; logged <= maxLogged {
				t.Logf("overlap (allowed in this scenario: only fencing protects): %s", v)
			}
		}
	}
	for _, v := range r.Failures() {
		t.Errorf("violation: %s", v)
	}
	resultsMu.Lock()
	results = append(results, r)
	resultsMu.Unlock()
}
