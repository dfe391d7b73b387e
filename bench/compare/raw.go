package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	locksv1alpha1 "github.com/leasehold/leasehold/api/v1alpha1"
)

// rawRedis measures the server's own limit with redis-benchmark: one SET
// NX PX per request (what an acquire is at its core), with 1 and 8
// connections. The pair limit is half of it (acquire + release).
func rawRedis(ctx context.Context, cfg config, res *results, addr string) error {
	host, port, _ := net.SplitHostPort(addr)
	for run := range cfg.runs {
		for _, c := range []int{1, 8} {
			// Size the request count so that a run lasts about one window.
			n := int(cfg.duration.Seconds() * float64(15000*c))
			out, err := exec.CommandContext(ctx, "redis-benchmark", "-h", host, "-p", port, "-c", strconv.Itoa(c),
				"-n", strconv.Itoa(n), "-r", "100000000", "--csv",
				"SET", "lock:__rand_int__", "holder", "NX", "PX", "10000").Output()
			if err != nil {
				return fmt.Errorf("redis-benchmark (Debian redis-tools): %w", err)
			}
			rps, err := parseRedisBenchmark(out)
			if err != nil {
				return err
			}
			res.addRaw("redis-benchmark", "Redis", fmt.Sprintf("pairs%d", c), rps/2)
			res.addRaw("redis-benchmark", "Redis", fmt.Sprintf("ops%d", c), rps)
		}
		fmt.Printf("   redis-benchmark run %d done\n", run+1)
	}
	res.Settings = append(res.Settings,
		"redis-benchmark: `SET lock:__rand_int__ holder NX PX 10000`, -r 100000000, -c 1 and -c 8; pair limit = requests/s ÷ 2.")
	return nil
}

func parseRedisBenchmark(out []byte) (float64, error) {
	recs, err := csv.NewReader(bytes.NewReader(out)).ReadAll()
	if err != nil || len(recs) < 2 || len(recs[len(recs)-1]) < 2 {
		return 0, fmt.Errorf("unexpected redis-benchmark output: %q", out)
	}
	return strconv.ParseFloat(recs[len(recs)-1][1], 64)
}

var pgbenchTPS = regexp.MustCompile(`tps = ([0-9.]+)`)

// rawPostgres measures the server's own limit with pgbench: one guarded
// single-row UPDATE per transaction (what an acquire or release is at its
// core), each client on its own row, with 1 and 8 clients.
func rawPostgres(ctx context.Context, cfg config, res *results, dbURL string) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("connecting for pgbench's table: %w", err)
	}
	_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_raw (k int PRIMARY KEY, holder text, version bigint NOT NULL DEFAULT 0);
		INSERT INTO bench_raw (k) SELECT generate_series(1, 64) ON CONFLICT DO NOTHING`)
	_ = conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("creating pgbench's table: %w", err)
	}
	dir, err := os.MkdirTemp("", "leasehold-pgbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "lock.sql")
	const body = "\\set k :client_id + 1\n" +
		"UPDATE bench_raw SET holder = 'h', version = version + 1 WHERE k = :k AND (holder IS NULL OR holder = 'h');\n"
	if err := os.WriteFile(script, []byte(body), 0o644); err != nil {
		return err
	}
	secs := strconv.Itoa(int(math.Max(1, math.Ceil(cfg.duration.Seconds()))))
	bin := pgbenchBinary()
	for run := range cfg.runs {
		for _, c := range []int{1, 8} {
			cmd := exec.CommandContext(ctx, bin, "-n", "-M", "prepared", "-f", script,
				"-c", strconv.Itoa(c), "-j", strconv.Itoa(min(c, 2)), "-T", secs, dbURL)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				return fmt.Errorf("pgbench: %w: %s", err, redactURL(stderr.String(), dbURL))
			}
			m := pgbenchTPS.FindSubmatch(out)
			if m == nil {
				return fmt.Errorf("unexpected pgbench output: %q", out)
			}
			tps, _ := strconv.ParseFloat(string(m[1]), 64)
			res.addRaw("pgbench", "PostgreSQL", fmt.Sprintf("pairs%d", c), tps/2)
			res.addRaw("pgbench", "PostgreSQL", fmt.Sprintf("ops%d", c), tps)
		}
		fmt.Printf("   pgbench run %d done\n", run+1)
	}
	res.Settings = append(res.Settings, "pgbench: -M prepared, one `UPDATE ... WHERE k = :client_id+1 AND (holder IS NULL OR holder = 'h')` "+
		"per transaction (autocommit), -c 1 and -c 8 for "+secs+" s; pair limit = tps ÷ 2.")
	return nil
}

func pgbenchBinary() string {
	if dir := os.Getenv("LEASEHOLD_PG_BINDIR"); dir != "" {
		return filepath.Join(dir, "pgbench")
	}
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/pgbench"); err == nil {
		return "/usr/lib/postgresql/15/bin/pgbench"
	}
	return "pgbench"
}

// redactURL keeps the password out of pgbench's error text.
func redactURL(s, rawURL string) string {
	if i := strings.Index(rawURL, "://"); i >= 0 {
		if at := strings.Index(rawURL[i+3:], "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rawURL[i+3:i+3+at], ":"); ok && pw != "" {
				s = strings.ReplaceAll(s, pw, "xxxxx")
			}
		}
	}
	return s
}

var reapLine = regexp.MustCompile(`reap delay after expiry: min (\S+), median (\S+), p90 (\S+), p99 (\S+), worst (\S+)`)

// reap runs bench/reap (in the main module) once and keeps its summary.
func reap(ctx context.Context, cfg config, res *results) error {
	fmt.Printf("== reap delay (%d locks, bench/reap)\n", cfg.reapLocks)
	cmd := exec.CommandContext(ctx, "go", "run", "./bench/reap", "-locks", strconv.Itoa(cfg.reapLocks))
	cmd.Dir = cfg.repo
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bench/reap: %w", err)
	}
	fmt.Print(string(out))
	m := reapLine.FindStringSubmatch(string(out))
	if m == nil {
		return fmt.Errorf("unexpected bench/reap output: %q", out)
	}
	for i, name := range []string{"min", "median", "p90", "p99", "worst"} {
		d, err := time.ParseDuration(m[i+1])
		if err != nil {
			return err
		}
		res.Reap = append(res.Reap, reapFigure{Name: name, Ms: ms(d)})
	}
	res.ReapLocks = cfg.reapLocks
	res.ReapSummary = strings.TrimSpace(string(out))
	return nil
}

// rawKubernetes measures what the API server takes of the write every
// Leasehold operation on Kubernetes is: a resourceVersion-guarded Update
// of one object, each worker its own object, sending back the object the
// last Update returned, with 1 and 8 workers. Once for a DistributedLock
// through the controller-runtime client the backend uses, once for a
// coordination.k8s.io Lease through the clientset the Lease lock uses,
// both through the same configuration (no client-side rate limit). Their
// ratio is the cost of a custom resource's update path next to a built-in
// type's, whoever sends it.
func rawKubernetes(ctx context.Context, cfg config, res *results, cl client.Client, cs kubernetes.Interface, ns string) error {
	now := metav1.NowMicro()
	dlock := func(i int) updater {
		obj := &locksv1alpha1.DistributedLock{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("raw-%d", i)},
			Spec: locksv1alpha1.DistributedLockSpec{Key: fmt.Sprintf("raw-%d", i), HolderIdentity: "raw",
				LeaseDurationSeconds: ptr.To(int32(30)), AcquireTime: &now, RenewTime: &now, FencingToken: 1, LeaseTransitions: 1},
		}
		return updater{
			create: func(ctx context.Context) error { return cl.Create(ctx, obj) },
			update: func(ctx context.Context) error {
				t := metav1.NowMicro()
				obj.Spec.RenewTime = &t
				return cl.Update(ctx, obj)
			},
		}
	}
	lease := func(i int) updater {
		obj := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("raw-%d", i)},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("raw"), LeaseDurationSeconds: ptr.To(int32(30)),
				AcquireTime: &now, RenewTime: &now, LeaseTransitions: ptr.To(int32(1))},
		}
		return updater{
			create: func(ctx context.Context) error {
				got, err := cs.CoordinationV1().Leases(ns).Create(ctx, obj, metav1.CreateOptions{})
				if err == nil {
					obj = got
				}
				return err
			},
			update: func(ctx context.Context) error {
				t := metav1.NowMicro()
				obj.Spec.RenewTime = &t
				got, err := cs.CoordinationV1().Leases(ns).Update(ctx, obj, metav1.UpdateOptions{})
				if err == nil {
					obj = got
				}
				return err
			},
		}
	}
	kinds := []struct {
		name string
		new  func(int) updater
	}{{"raw DistributedLock update", dlock}, {"raw Lease update", lease}}
	next := 0
	for run := range cfg.runs {
		for _, k := range kinds {
			for _, w := range []int{1, 8} {
				us := make([]updater, w)
				for i := range us {
					us[i] = k.new(next)
					next++
					if err := us[i].create(ctx); err != nil {
						return fmt.Errorf("%s: creating the object: %w", k.name, err)
					}
				}
				var done atomic.Int64
				var firstErr atomic.Value
				wctx, cancel := context.WithTimeout(ctx, cfg.duration)
				var wg sync.WaitGroup
				start := time.Now()
				for _, u := range us {
					wg.Go(func() {
						for wctx.Err() == nil {
							if err := u.update(wctx); err != nil {
								if wctx.Err() == nil {
									firstErr.CompareAndSwap(nil, err)
								}
								return
							}
							done.Add(1)
						}
					})
				}
				wg.Wait()
				cancel()
				if err, _ := firstErr.Load().(error); err != nil {
					return fmt.Errorf("%s: %w", k.name, err)
				}
				res.addRaw(k.name, "Kubernetes", fmt.Sprintf("ops%d", w), float64(done.Load())/time.Since(start).Seconds())
			}
		}
		fmt.Printf("   raw Kubernetes updates run %d done\n", run+1)
	}
	res.Settings = append(res.Settings, "Raw Kubernetes updates: resourceVersion-guarded Updates of one object per worker (renewTime moved), "+
		"sending back what the last Update returned, for the window; a DistributedLock through the controller-runtime client "+
		"the backend uses, a coordination.k8s.io Lease through the clientset the Lease lock uses, same configuration, controller running.")
	return nil
}

// updater is one worker's object in rawKubernetes.
type updater struct {
	create, update func(context.Context) error
}
