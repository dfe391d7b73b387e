package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"cirello.io/pglock"
	"github.com/bsm/redislock"
	"github.com/go-redsync/redsync/v4"
	redsyncgoredis "github.com/go-redsync/redsync/v4/redis/goredis/v9"
	_ "github.com/lib/pq" // pglock requires lib/pq
	goredis "github.com/redis/go-redis/v9"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kbackend "github.com/leasehold/leasehold/pkg/backends/kubernetes"
	pgbackend "github.com/leasehold/leasehold/pkg/backends/postgres"
	redisbackend "github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/workload"
)

// The Locker names in the report.
const (
	lockerLeasehold = "leasehold"
	lockerRedislock = "redislock"
	lockerRedsync   = "redsync"
	lockerPglock    = "pglock"
	lockerElection  = "client-go-leaderelection"
)

// target is where one scenario's clients take their leases: the store,
// the library, the server and the scenario's namespace. It is also what a
// holder process is told (targetEnv), so that it opens the same Locker on
// the same keys, straight to the server.
type target struct {
	Store, Locker string
	// URL is the Redis or PostgreSQL server's URL (direct, credentials
	// included).
	URL string
	// Namespace scopes the scenario's keys: Leasehold's namespace, a key
	// prefix for the Redis libraries, pglock's table name, the Kubernetes
	// namespace of the Leases and DistributedLocks.
	Namespace string
	Kube      *kubeTarget `json:",omitempty"`
}

// kubeTarget is the API server and the credentials of envtest's admin
// user, enough to rebuild a rest.Config in a holder process.
type kubeTarget struct {
	Host, ServerName          string
	CAData, CertData, KeyData []byte
	BearerToken               string
	QPS                       float32
	Burst                     int
}

func newKubeTarget(c *rest.Config) *kubeTarget {
	return &kubeTarget{
		Host: c.Host, ServerName: c.ServerName, CAData: c.CAData, CertData: c.CertData, KeyData: c.KeyData,
		BearerToken: c.BearerToken, QPS: c.QPS, Burst: c.Burst,
	}
}

func (k *kubeTarget) restConfig() *rest.Config {
	return &rest.Config{
		Host: k.Host, BearerToken: k.BearerToken, QPS: k.QPS, Burst: k.Burst,
		TLSClientConfig: rest.TLSClientConfig{ServerName: k.ServerName, CAData: k.CAData, CertData: k.CertData, KeyData: k.KeyData},
	}
}

// targetEnv carries a target (JSON) to a holder process.
const targetEnv = "LEASEHOLD_BENCH_CHAOS_TARGET"

// spawn returns a Cluster.Spawn that re-executes this program as a holder
// process on t, reaching the server directly.
func spawn(t target) (func() *exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	return func() *exec.Cmd {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), targetEnv+"="+string(b))
		return cmd
	}, nil
}

// runHolder is a holder process's main (workload.RunHolderProcess).
func runHolder() int {
	var t target
	if err := json.Unmarshal([]byte(os.Getenv(targetEnv)), &t); err != nil {
		fmt.Fprintf(os.Stderr, "holder process: %s: %v\n", targetEnv, err)
		return 2
	}
	return workload.RunHolderProcess(func(ctx context.Context) (workload.Locker, error) {
		cfg, err := workload.HolderConfig()
		if err != nil {
			return nil, err
		}
		return dial(ctx, cfg, t, "", nil)
	}, nil) // no real protected resource: the scenarios write to the register
}

// dial opens one client's Locker on t, reaching the server at addr (a
// faultproxy) or, when addr is empty, directly. clk, when not nil, is
// the clock of a Leasehold Kubernetes client.
func dial(ctx context.Context, cfg workload.Config, t target, addr string, clk *workload.SkewClock) (workload.Locker, error) {
	switch t.Store {
	case storeRedis:
		return dialRedis(ctx, cfg, t, addr)
	case storePostgres:
		return dialPostgres(ctx, cfg, t, addr)
	case storeKubernetes:
		return dialKubernetes(cfg, t, addr, clk)
	}
	return nil, fmt.Errorf("unknown store %q", t.Store)
}

// withHost returns rawURL with its host replaced by addr (unless empty)
// and params added to its query.
func withHost(rawURL, addr string, params url.Values) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", errors.New("the server URL cannot be parsed")
	}
	if addr != "" {
		u.Host = addr
	}
	q := u.Query()
	for k, v := range params {
		q[k] = v
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func dialRedis(ctx context.Context, cfg workload.Config, t target, addr string) (workload.Locker, error) {
	if t.Locker == lockerLeasehold {
		u, err := withHost(t.URL, addr, url.Values{"namespace": {t.Namespace}})
		if err != nil {
			return nil, err
		}
		b, err := redisbackend.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), cfg), nil
	}
	u, err := withHost(t.URL, addr, nil)
	if err != nil {
		return nil, err
	}
	// The client at its defaults, as both READMEs build it (dial 5 s,
	// read and write timeouts 3 s, 3 retries).
	opts, err := goredis.ParseURL(u)
	if err != nil {
		return nil, errors.New("the Redis URL cannot be parsed")
	}
	rdb := goredis.NewClient(opts)
	// The scenario's namespace as a key prefix, the usual way to scope
	// Redis keys.
	prefix := t.Namespace + ":"
	switch t.Locker {
	case lockerRedislock:
		return &redislockLocker{c: redislock.New(rdb), close: rdb.Close, prefix: prefix, cfg: cfg}, nil
	case lockerRedsync:
		return &redsyncLocker{rs: redsync.New(redsyncgoredis.NewPool(rdb)), close: rdb.Close, prefix: prefix, cfg: cfg}, nil
	}
	_ = rdb.Close()
	return nil, fmt.Errorf("no locker %q on Redis", t.Locker)
}

func dialPostgres(ctx context.Context, cfg workload.Config, t target, addr string) (workload.Locker, error) {
	switch t.Locker {
	case lockerLeasehold:
		u, err := withHost(t.URL, addr, url.Values{"leasehold_namespace": {t.Namespace}})
		if err != nil {
			return nil, err
		}
		b, err := pgbackend.Open(ctx, u)
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), cfg), nil
	case lockerPglock:
		c, db, err := openPglock(cfg, t, addr)
		if err != nil {
			return nil, err
		}
		return &pglockLocker{c: c, close: db.Close, cfg: cfg}, nil
	}
	return nil, fmt.Errorf("no locker %q on PostgreSQL", t.Locker)
}

// pglockTable is the scenario's own pglock table: pglock has no namespace,
// and a table per scenario keeps a killed holder's row from one scenario
// out of the next.
func pglockTable(ns string) string {
	return "pglock_" + strings.NewReplacer("-", "_", ":", "_").Replace(ns)
}

// openPglock opens a pglock client on its own lib/pq pool (pglock
// requires lib/pq) through addr.
func openPglock(cfg workload.Config, t target, addr string) (*pglock.Client, *sql.DB, error) {
	u, err := withHost(t.URL, addr, nil)
	if err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("postgres", u)
	if err != nil {
		return nil, nil, err
	}
	c, err := pglock.New(db,
		pglock.WithLeaseDuration(cfg.Lease),
		pglock.WithHeartbeatFrequency(cfg.Lease/3),
		pglock.WithCustomTable(pglockTable(t.Namespace)),
	)
	if err != nil {
		_ = db.Close()
		return nil, nil, fmt.Errorf("pglock: %w", err)
	}
	return c, db, nil
}

func dialKubernetes(cfg workload.Config, t target, addr string, clk *workload.SkewClock) (workload.Locker, error) {
	rc := t.Kube.restConfig()
	if addr != "" {
		var err error
		if rc, err = workload.RestConfigVia(rc, addr); err != nil {
			return nil, err
		}
	}
	switch t.Locker {
	case lockerLeasehold:
		cl, err := client.NewWithWatch(rc, client.Options{Scheme: kbackend.Scheme()})
		if err != nil {
			return nil, err
		}
		opts := []kbackend.Option{kbackend.WithNamespace(t.Namespace)}
		if clk != nil {
			opts = append(opts, kbackend.WithClock(clk))
		}
		b, err := kbackend.New(cl, opts...)
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), cfg), nil
	case lockerElection:
		cs, err := kubernetes.NewForConfig(rc)
		if err != nil {
			return nil, err
		}
		return &electionLocker{cs: cs, ns: t.Namespace, close: func() error { return nil }, cfg: cfg}, nil
	}
	return nil, fmt.Errorf("no locker %q on Kubernetes", t.Locker)
}
