// Command compare measures Leasehold's backends against the lock libraries
// people use instead, on the same servers in the same run, and writes a
// Markdown table of ratios and a PNG chart under bench/results/. See
// README.md in this folder's parent.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bsm/redislock"
	"github.com/go-logr/logr"
	"github.com/go-redsync/redsync/v4"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	_ "github.com/lib/pq" // pglock requires lib/pq
	goredis "github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/leasehold/leasehold/pkg/backends"
	kbackend "github.com/leasehold/leasehold/pkg/backends/kubernetes"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	pgbackend "github.com/leasehold/leasehold/pkg/backends/postgres"
	redisbackend "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/kubeenv"
	"github.com/leasehold/leasehold/test/support/testserver"
)

type config struct {
	repo      string
	runs      int
	duration  time.Duration
	only      map[string]bool
	reapLocks int
	out       string
	waitOnly  bool
	cliTrials int
	cliSettle time.Duration
}

func main() {
	var (
		cfg  config
		only string
	)
	flag.StringVar(&cfg.repo, "repo", "../..", "The repository root (for the envtest binaries, the CRDs, bench/reap and bench/results).")
	flag.IntVar(&cfg.runs, "runs", 3, "Repetitions of every measurement; figures are the median with the min-max spread.")
	flag.DurationVar(&cfg.duration, "duration", 1500*time.Millisecond, "Length of each measurement window.")
	flag.StringVar(&only, "only", "redis,postgres,kubernetes,sqlite,memory,reap,cli",
		"Comma-separated subset of redis, postgres, kubernetes, sqlite, memory, reap, cli. "+
			"With cli alone, only the hand-off section of the results in -out is replaced.")
	flag.IntVar(&cfg.reapLocks, "reap-locks", 1000, "Locks for the reap-delay measurement (bench/reap); 10000 takes minutes.")
	flag.BoolVar(&cfg.waitOnly, "wait-only", false, "Measure only the waiting pairs and fairness scenarios (and no raw limits or reap).")
	flag.IntVar(&cfg.cliTrials, "cli-trials", 50, "Trials of each cli measurement (lockctl hand-off, flock hand-off, lost lease).")
	flag.DurationVar(&cfg.cliSettle, "cli-settle", 300*time.Millisecond,
		"In the cli scenario, how long a waiter is left to start waiting (and a holder to settle) before the hand-off or the break.")
	flag.StringVar(&cfg.out, "out", "", "Folder for results.md, results.json and pairs.png (default REPO/bench/results).")
	flag.Parse()
	cfg.only = map[string]bool{}
	for s := range strings.SplitSeq(only, ",") {
		cfg.only[strings.TrimSpace(s)] = true
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(cfg.repo, "bench", "results")
	}
	if cfg.runs < 1 || cfg.duration < 100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "compare: -runs must be at least 1 and -duration at least 100ms")
		os.Exit(2)
	}
	if cfg.cliTrials < 1 || cfg.cliSettle < 0 {
		fmt.Fprintf(os.Stderr, "compare: -cli-trials must be at least 1 (got %d) and -cli-settle not negative (got %s)\n",
			cfg.cliTrials, cfg.cliSettle)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

// contender is one implementation measured.
type contender struct {
	name  string
	group string
	ours  bool
	l     locker
	// counted is l reaching the store through a round-trip counter (nil:
	// l itself), so that the counter costs the throughput figures nothing.
	counted locker
	// trips reads a counter of round trips to the store, or is nil.
	trips func(context.Context) (int64, error)
	// serverCPU reads the store's CPU time, or is nil.
	serverCPU func(context.Context) (time.Duration, error)
	// failover measures one crash-and-take-over.
	failover func(ctx context.Context, key string) (time.Duration, error)
	// fresh opens a client of its own for the waiting-pairs and fairness
	// scenarios, or is nil (not measured).
	fresh freshLocker
	// freshConns reads the store's count of connections opened (Redis:
	// total_connections_received), freshRequests the API requests of fresh
	// clients (Kubernetes); either may be nil.
	freshConns, freshRequests func(context.Context) (int64, error)
	// ctrl counts the requests of the DistributedLock controller running
	// beside the clients (Kubernetes), or is nil.
	ctrl *controllerCounts
}

func run(cfg config) error {
	logf.SetLogger(logr.Discard())
	klog.SetLogger(logr.Discard())
	ctx := context.Background()
	res := newResults(cfg)
	fmt.Printf("machine: %s\n", res.Machine)

	var contenders []contender
	var cleanups []func()
	defer func() {
		for _, c := range slices.Backward(cleanups) {
			c()
		}
	}()

	if cfg.only["redis"] {
		cs, cleanup, err := redisContenders(ctx, cfg, res)
		cleanups = append(cleanups, cleanup)
		if err != nil {
			return err
		}
		contenders = append(contenders, cs...)
	}
	if cfg.only["postgres"] {
		cs, cleanup, err := postgresContenders(ctx, cfg, res)
		cleanups = append(cleanups, cleanup)
		if err != nil {
			return err
		}
		contenders = append(contenders, cs...)
	}
	if cfg.only["kubernetes"] {
		cs, cleanup, err := kubernetesContenders(ctx, cfg, res)
		cleanups = append(cleanups, cleanup)
		if err != nil {
			return err
		}
		contenders = append(contenders, cs...)
	}
	if cfg.only["sqlite"] {
		dir, err := os.MkdirTemp("", "leasehold-bench-")
		if err != nil {
			return err
		}
		cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
		u := "sqlite://" + filepath.Join(dir, "locks.db")
		open := func(ctx context.Context) (backends.Backend, error) { return sqlite.Open(ctx, u) }
		c, err := oursContender(ctx, "Leasehold sqlite", "SQLite", open, nil, nil)
		if err != nil {
			return err
		}
		contenders = append(contenders, c)
	}
	if cfg.only["memory"] {
		store := memory.NewStore()
		open := func(context.Context) (backends.Backend, error) { return store.Backend(""), nil }
		c, err := oursContender(ctx, "Leasehold memory", "Memory", open, nil, nil)
		if err != nil {
			return err
		}
		contenders = append(contenders, c)
	}

	for _, c := range contenders {
		if err := measure(ctx, cfg, res, c); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
	}
	if cfg.only["reap"] && cfg.reapLocks > 0 {
		if err := reap(ctx, cfg, res); err != nil {
			return err
		}
	}
	if cfg.only["cli"] && !cfg.waitOnly {
		cli, err := measureCLI(ctx, cfg)
		if err != nil {
			return fmt.Errorf("cli: %w", err)
		}
		fmt.Println("   " + cli.summary())
		if len(cfg.only) == 1 {
			// The hand-off section alone: keep the other figures of the
			// last run in -out rather than wipe them.
			return writeCLIOnly(cfg.out, res, cli)
		}
		res.CLI = cli
	}
	res.finish()
	return res.write(cfg.out)
}

func oursContender(ctx context.Context, name, group string, open func(context.Context) (backends.Backend, error),
	counted locker, trips func(context.Context) (int64, error)) (contender, error) {
	b, err := open(ctx)
	if err != nil {
		return contender{}, fmt.Errorf("%s: %w", name, err)
	}
	return contender{
		name: name, group: group, ours: true, l: leasehold{m: lockmanager.New(b)}, counted: counted, trips: trips,
		failover: func(ctx context.Context, key string) (time.Duration, error) { return sessionFailover(ctx, open, key) },
		fresh: func(ctx context.Context, refresh time.Duration) (locker, func(), error) {
			b, err := open(ctx)
			if err != nil {
				return nil, nil, err
			}
			m := lockmanager.New(b)
			return leasehold{m: m, refresh: refresh}, func() { _ = m.Close() }, nil
		},
	}, nil
}

func anchorFailover(l locker) func(context.Context, string) (time.Duration, error) {
	return func(ctx context.Context, key string) (time.Duration, error) { return failover(ctx, l, l, key) }
}

func redisContenders(ctx context.Context, cfg config, res *results) ([]contender, func(), error) {
	srv, stop, err := testserver.StartRedisForMain()
	if err != nil {
		return nil, func() {}, fmt.Errorf("starting Redis: %w", err)
	}
	proxy, err := newTurnProxy(srv.Addr())
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	admin := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	cleanup := func() { _ = admin.Close(); proxy.close(); stop() }
	trips := func(context.Context) (int64, error) { return proxy.turns.Load(), nil }
	serverCPU := func(ctx context.Context) (time.Duration, error) { return redisCPU(ctx, admin) }
	open := func(ctx context.Context) (backends.Backend, error) { return redisbackend.Open(ctx, srv.URL()) }
	countedBackend, err := redisbackend.Open(ctx, "redis://"+proxy.addr()+"/0")
	if err != nil {
		return nil, cleanup, err
	}
	ours, err := oursContender(ctx, "Leasehold redis", "Redis", open, leasehold{m: lockmanager.New(countedBackend)}, trips)
	if err != nil {
		return nil, cleanup, err
	}
	newClient := func(addr string) *goredis.Client { return goredis.NewClient(&goredis.Options{Addr: addr}) }
	bsm := bsmRedislock{c: redislock.New(newClient(srv.Addr()))}
	bsmCounted := bsmRedislock{c: redislock.New(newClient(proxy.addr()))}
	rs := redsyncLocker{rs: redsync.New(redsyncgoredis.NewPool(newClient(srv.Addr())))}
	rsCounted := redsyncLocker{rs: redsync.New(redsyncgoredis.NewPool(newClient(proxy.addr())))}
	if !cfg.waitOnly {
		if err := rawRedis(ctx, cfg, res, srv.Addr()); err != nil {
			return nil, cleanup, err
		}
	}
	ours.serverCPU = serverCPU
	conns := func(ctx context.Context) (int64, error) { return redisConnections(ctx, admin) }
	ours.freshConns = conns
	bsmFresh := func(context.Context, time.Duration) (locker, func(), error) {
		c := newClient(srv.Addr())
		return bsmRedislock{c: redislock.New(c)}, func() { _ = c.Close() }, nil
	}
	return []contender{
		ours,
		{name: "bsm/redislock", group: "Redis", l: bsm, counted: bsmCounted, trips: trips, serverCPU: serverCPU,
			failover: anchorFailover(bsm), fresh: bsmFresh, freshConns: conns},
		{name: "redsync", group: "Redis", l: rs, counted: rsCounted, trips: trips, serverCPU: serverCPU, failover: anchorFailover(rs)},
	}, cleanup, nil
}

func postgresContenders(ctx context.Context, cfg config, res *results) ([]contender, func(), error) {
	srv, stop, err := testserver.StartPostgresForMain()
	if err != nil {
		return nil, func() {}, fmt.Errorf("starting PostgreSQL: %w", err)
	}
	proxy, err := newTurnProxy(srv.Addr())
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	var closers []func()
	cleanup := func() {
		for _, c := range closers {
			c()
		}
		proxy.close()
		stop()
	}
	// Both libraries get the same connection limit (16: two per worker at
	// most); the copies that count round trips go through the proxy.
	urls := func(host string) (oursURL, pqURL string, err error) {
		u, err := url.Parse(srv.URL())
		if err != nil {
			return "", "", err
		}
		u.Host = host
		q := u.Query()
		pqURL = u.String()
		q.Set("pool_max_conns", "16")
		u.RawQuery = q.Encode()
		return u.String(), pqURL, nil
	}
	oursURL, pqURL, err := urls(srv.Addr())
	if err != nil {
		return nil, cleanup, err
	}
	oursCountedURL, pqCountedURL, err := urls(proxy.addr())
	if err != nil {
		return nil, cleanup, err
	}
	trips := func(context.Context) (int64, error) { return proxy.turns.Load(), nil }
	open := func(ctx context.Context) (backends.Backend, error) { return pgbackend.Open(ctx, oursURL) }
	countedBackend, err := pgbackend.Open(ctx, oursCountedURL)
	if err != nil {
		return nil, cleanup, err
	}
	ours, err := oursContender(ctx, "Leasehold postgres", "PostgreSQL", open, leasehold{m: lockmanager.New(countedBackend)}, trips)
	if err != nil {
		return nil, cleanup, err
	}
	openPglock := func(u string) (*pglockLocker, error) {
		db, err := sql.Open("postgres", u)
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = db.Close() })
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16) // database/sql keeps only 2 idle by default
		return newPglock(db)
	}
	pg, err := openPglock(pqURL)
	if err != nil {
		return nil, cleanup, err
	}
	pgCounted, err := openPglock(pqCountedURL)
	if err != nil {
		return nil, cleanup, err
	}
	if !cfg.waitOnly {
		if err := rawPostgres(ctx, cfg, res, srv.URL()); err != nil {
			return nil, cleanup, err
		}
	}
	pgFresh := func(context.Context, time.Duration) (locker, func(), error) {
		db, err := sql.Open("postgres", pqURL)
		if err != nil {
			return nil, nil, err
		}
		db.SetMaxOpenConns(2)
		db.SetMaxIdleConns(2)
		l, err := newPglock(db)
		if err != nil {
			_ = db.Close()
			return nil, nil, err
		}
		return l, func() { _ = db.Close() }, nil
	}
	return []contender{
		ours,
		{name: "pglock", group: "PostgreSQL", l: pg, counted: pgCounted, trips: trips, failover: anchorFailover(pg), fresh: pgFresh},
	}, cleanup, nil
}

func kubernetesContenders(ctx context.Context, cfg config, res *results) ([]contender, func(), error) {
	env, err := kubeenv.EnvironmentIn(cfg.repo)
	if err != nil {
		return nil, func() {}, err
	}
	restCfg, err := env.Start()
	if err != nil {
		return nil, func() {}, fmt.Errorf("starting the control plane (make setup-envtest builds it): %w", err)
	}
	cleanup := func() { _ = env.Stop() }
	// No client-side rate limit for either side: client-go's default
	// (5 QPS, burst 10) would measure the limiter, not the lock.
	counted := func(n *atomic.Int64) *rest.Config {
		c := rest.CopyConfig(restCfg)
		c.QPS, c.Burst = -1, 0
		c.RateLimiter = nil
		c.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, n: n} }
		return c
	}
	var oursN, leaseN atomic.Int64
	cl, err := client.NewWithWatch(counted(&oursN), client.Options{Scheme: kbackend.Scheme()})
	if err != nil {
		return nil, cleanup, err
	}
	cs, err := kubernetes.NewForConfig(counted(&leaseN))
	if err != nil {
		return nil, cleanup, err
	}
	const ns = "bench"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil {
		return nil, cleanup, err
	}
	// The DistributedLock controller runs beside every Kubernetes client,
	// as in production (it has nothing to do with the Lease lock's Leases).
	ctrlCounts, stopCtrl, err := startController(restCfg)
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { stopCtrl(); _ = env.Stop() }
	if !cfg.waitOnly {
		if err := rawKubernetes(ctx, cfg, res, cl, cs, ns); err != nil {
			return nil, cleanup, err
		}
	}
	open := func(context.Context) (backends.Backend, error) { return kbackend.New(cl, kbackend.WithNamespace(ns)) }
	ours, err := oursContender(ctx, "Leasehold kubernetes", "Kubernetes", open, nil,
		func(context.Context) (int64, error) { return oursN.Load(), nil })
	if err != nil {
		return nil, cleanup, err
	}
	ours.freshRequests = func(context.Context) (int64, error) { return oursN.Load(), nil }
	ours.ctrl = ctrlCounts
	ll := leaseLocker{cs: cs, ns: ns}
	leaseFresh := func(context.Context, time.Duration) (locker, func(), error) {
		cs, err := kubernetes.NewForConfig(counted(&leaseN))
		if err != nil {
			return nil, nil, err
		}
		return leaseLocker{cs: cs, ns: ns}, func() {}, nil
	}
	return []contender{
		ours,
		{name: "client-go Lease", group: "Kubernetes", l: ll, trips: func(context.Context) (int64, error) { return leaseN.Load(), nil },
			fresh: leaseFresh, freshRequests: func(context.Context) (int64, error) { return leaseN.Load(), nil }, ctrl: ctrlCounts,
			failover: func(ctx context.Context, key string) (time.Duration, error) {
				return electionFailover(ctx, cs, ns, key)
			}},
	}, cleanup, nil
}

// measure runs every scenario cfg.runs times for one contender.
func measure(ctx context.Context, cfg config, res *results, c contender) error {
	fmt.Printf("== %s\n", c.name)
	short := strings.NewReplacer(" ", "", "/", "", "-", "").Replace(strings.ToLower(c.name))
	if cfg.waitOnly {
		return measureWaiting(ctx, cfg, res, c, short)
	}
	if c.trips != nil {
		var w0, q0 int64
		if c.ctrl != nil {
			w0, q0 = c.ctrl.writes.Load(), c.ctrl.requests.Load()
		}
		const n = 50
		a, r, rel, err := roundTrips(ctx, c, "rt-"+short, n)
		if err != nil {
			return fmt.Errorf("counting round trips: %w", err)
		}
		res.add(c, "rtAcquire", a)
		res.add(c, "rtRenew", r)
		res.add(c, "rtRelease", rel)
		fmt.Printf("   round trips: acquire %.2f, renew %.2f, release %.2f\n", a, r, rel)
		if c.ctrl != nil {
			// Let the controller catch up with the last events.
			time.Sleep(time.Second)
			w, q := c.ctrl.writes.Load()-w0, c.ctrl.requests.Load()-q0
			res.add(c, "ctrlWritesOp", float64(w)/(3*n))
			res.add(c, "ctrlReqsOp", float64(q)/(3*n))
			fmt.Printf("   controller: %d writes, %d requests over %d acquire+renew+release\n", w, q, n)
		}
	}
	for run := range cfg.runs {
		tag := fmt.Sprintf("%s-%d", short, run)
		for _, w := range []int{1, 8} {
			cpu0, srv0, err := cpuTimes(ctx, c)
			if err != nil {
				return err
			}
			cw0 := c.ctrlWrites()
			v, n, err := pairs(ctx, c.l, fmt.Sprintf("%s-w%d", tag, w), w, cfg.duration)
			if err != nil {
				return fmt.Errorf("pairs with %d workers: %w", w, err)
			}
			cpu1, srv1, err := cpuTimes(ctx, c)
			if err != nil {
				return err
			}
			res.add(c, fmt.Sprintf("pairs%d", w), v)
			if c.ctrl != nil && w == 8 && n > 0 {
				res.add(c, "ctrlWritesPair8", float64(c.ctrlWrites()-cw0)/float64(n))
			}
			if w == 8 && n > 0 {
				res.add(c, "clientCPU8", float64((cpu1-cpu0)/time.Microsecond)/float64(n))
				if c.serverCPU != nil {
					res.add(c, "serverCPU8", float64((srv1-srv0)/time.Microsecond)/float64(n))
				}
			}
		}
		for _, w := range []int{1, 8} {
			cw0 := c.ctrlWrites()
			v, n, err := renewals(ctx, c.l, fmt.Sprintf("%s-w%d", tag, w), w, cfg.duration)
			if err != nil {
				return fmt.Errorf("renewals with %d workers: %w", w, err)
			}
			res.add(c, fmt.Sprintf("renew%d", w), v)
			if c.ctrl != nil && w == 8 && n > 0 {
				res.add(c, "ctrlWritesRenew8", float64(c.ctrlWrites()-cw0)/float64(n))
			}
		}
		if err := measureContended(ctx, cfg, res, c, tag, []int{8, 32}); err != nil {
			return err
		}
		if err := measureWaitingRun(ctx, cfg, res, c, tag); err != nil {
			return err
		}
		ct, err := contended(ctx, []locker{c.l, c.l}, "h-"+tag, handoffHold, cfg.duration)
		if err != nil {
			return fmt.Errorf("hand-off: %w", err)
		}
		if len(ct.waits) > 0 {
			res.add(c, "handoff", ms(ct.pct(0.50)))
		}
		fo, err := c.failover(ctx, "f-"+tag)
		if err != nil {
			return fmt.Errorf("failover: %w", err)
		}
		res.add(c, "failover", ms(fo))
		fmt.Printf("   run %d: %s\n", run+1, res.line(c))
	}
	return nil
}

// measureWaiting runs only the waiting scenarios, cfg.runs times.
func measureWaiting(ctx context.Context, cfg config, res *results, c contender, short string) error {
	// Warm the client as roundTrips does in a full run (the Kubernetes
	// client discovers the API on its first request).
	h, err := c.l.acquire(ctx, "warm-"+short, "warm", uncontendedLease, false)
	if err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	if err := h.release(ctx); err != nil {
		return fmt.Errorf("warming up: %w", err)
	}
	for run := range cfg.runs {
		tag := fmt.Sprintf("%s-%d", short, run)
		if err := measureContended(ctx, cfg, res, c, tag, []int{8}); err != nil {
			return err
		}
		if err := measureWaitingRun(ctx, cfg, res, c, tag); err != nil {
			return err
		}
		fmt.Printf("   run %d: %s\n", run+1, res.line(c))
	}
	return nil
}

// ctrlWrites reads the controller's write count (0 without a controller).
func (c contender) ctrlWrites() int64 {
	if c.ctrl == nil {
		return 0
	}
	return c.ctrl.writes.Load()
}

// measureContended runs the contended key with each number of workers in
// ws, all on the contender's one client, then, for contenders with fresh
// clients, with a client of its own per worker (for Leasehold its own
// Manager: each release wakes one waiter per Manager). Where API requests
// are counted (Kubernetes), it adds the clients' requests per acquisition
// and the controller's writes per acquisition.
func measureContended(ctx context.Context, cfg config, res *results, c contender, tag string, ws []int) error {
	for _, w := range ws {
		for _, own := range []bool{false, true} {
			if own && c.fresh == nil {
				continue
			}
			if err := contendedOnce(ctx, cfg, res, c, tag, w, own); err != nil {
				return err
			}
		}
	}
	return nil
}

func contendedOnce(ctx context.Context, cfg config, res *results, c contender, tag string, w int, own bool) error {
	name := fmt.Sprintf("c%d", w)
	ls := make([]locker, w)
	for i := range ls {
		ls[i] = c.l
	}
	if own {
		name += "o"
		for i := range ls {
			l, closer, err := c.fresh(ctx, 0)
			if err != nil {
				return err
			}
			defer closer()
			ls[i] = l
		}
	}
	var q0 int64
	if c.freshRequests != nil {
		var err error
		if q0, err = c.freshRequests(ctx); err != nil {
			return err
		}
	}
	cw0 := c.ctrlWrites()
	ct, err := contended(ctx, ls, fmt.Sprintf("%s-%s", name, tag), contendedHold, cfg.duration)
	if err != nil {
		return fmt.Errorf("contended with %d workers (own clients %v): %w", w, own, err)
	}
	res.add(c, name+"Rate", ct.perSecond)
	if len(ct.waits) > 0 {
		res.add(c, name+"P50", ms(ct.pct(0.50)))
		res.add(c, name+"P99", ms(ct.pct(0.99)))
	}
	res.addSamples(c, name, len(ct.waits))
	if ct.grants > 0 && c.freshRequests != nil {
		q1, err := c.freshRequests(ctx)
		if err != nil {
			return err
		}
		res.add(c, name+"Reqs", float64(q1-q0)/float64(ct.grants))
	}
	if ct.grants > 0 && c.ctrl != nil {
		res.add(c, name+"CtrlW", float64(c.ctrlWrites()-cw0)/float64(ct.grants))
	}
	return nil
}

// measureWaitingRun measures waiting pairs with 1 and 8 workers (each with
// a client of its own) and the fairness of 8 workers on one key, with
// clients of their own and with one shared client.
func measureWaitingRun(ctx context.Context, cfg config, res *results, c contender, tag string) error {
	if c.fresh == nil {
		return nil
	}
	read := func(f func(context.Context) (int64, error)) (int64, error) {
		if f == nil {
			return 0, nil
		}
		return f(ctx)
	}
	for _, w := range []int{1, 8} {
		conns0, err := read(c.freshConns)
		if err != nil {
			return err
		}
		reqs0, err := read(c.freshRequests)
		if err != nil {
			return err
		}
		v, n, err := waitPairs(ctx, c.fresh, fmt.Sprintf("%s-w%d", tag, w), w, cfg.duration)
		if err != nil {
			return fmt.Errorf("waiting pairs with %d workers: %w", w, err)
		}
		conns1, err := read(c.freshConns)
		if err != nil {
			return err
		}
		reqs1, err := read(c.freshRequests)
		if err != nil {
			return err
		}
		res.add(c, fmt.Sprintf("wpairs%d", w), v)
		if n > 0 && c.freshConns != nil {
			// Less the clients' own first connections.
			res.add(c, fmt.Sprintf("wconns%d", w), float64(conns1-conns0-int64(w))/float64(n))
		}
		if n > 0 && c.freshRequests != nil {
			res.add(c, fmt.Sprintf("wreqs%d", w), float64(reqs1-reqs0)/float64(n))
		}
	}
	f, again, err := fairness(ctx, c.l, c.fresh, "fo-"+tag, 8, contendedHold, cfg.duration)
	if err != nil {
		return fmt.Errorf("fairness, own clients: %w", err)
	}
	res.add(c, "fairOwn8", f)
	res.add(c, "againOwn8", again)
	f, again, err = fairness(ctx, c.l, nil, "fs-"+tag, 8, contendedHold, cfg.duration)
	if err != nil {
		return fmt.Errorf("fairness, shared client: %w", err)
	}
	res.add(c, "fairShared8", f)
	res.add(c, "againShared8", again)
	return nil
}

// cpuTimes reads this process's CPU time (user + system) and, where the
// contender has a way, the store's.
func cpuTimes(ctx context.Context, c contender) (self, server time.Duration, err error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0, err
	}
	self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if c.serverCPU != nil {
		server, err = c.serverCPU(ctx)
	}
	return self, server, err
}

// contendedHold is how long a contended holder keeps the key; handoffHold
// is longer so that the one waiter is surely waiting when it is released.
const (
	contendedHold = 5 * time.Millisecond
	handoffHold   = 50 * time.Millisecond
)

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// roundTrips does n acquire, renew, release sequences on one key and
// returns the average round trips of each.
func roundTrips(ctx context.Context, c contender, key string, n int) (acq, ren, rel float64, err error) {
	l := c.l
	if c.counted != nil {
		l = c.counted
	}
	warm, err := l.acquire(ctx, key, "rt", uncontendedLease, false)
	if err != nil {
		return 0, 0, 0, err
	}
	// The warm-up also loads scripts and prepares statements, which the
	// first use of each operation pays for once.
	if err := warm.renew(ctx); err != nil {
		return 0, 0, 0, err
	}
	if err := warm.release(ctx); err != nil {
		return 0, 0, 0, err
	}
	var sums [3]int64
	for range n {
		var marks [4]int64
		if marks[0], err = c.trips(ctx); err != nil {
			return 0, 0, 0, err
		}
		h, err := l.acquire(ctx, key, "rt", uncontendedLease, false)
		if err != nil {
			return 0, 0, 0, err
		}
		marks[1], _ = c.trips(ctx)
		if err := h.renew(ctx); err != nil {
			return 0, 0, 0, err
		}
		marks[2], _ = c.trips(ctx)
		if err := h.release(ctx); err != nil {
			return 0, 0, 0, err
		}
		marks[3], _ = c.trips(ctx)
		for i := range 3 {
			sums[i] += marks[i+1] - marks[i]
		}
	}
	f := float64(n)
	return float64(sums[0]) / f, float64(sums[1]) / f, float64(sums[2]) / f, nil
}
