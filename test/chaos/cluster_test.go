//go:build chaos

package chaos

import (
	"context"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/backends/postgres"
	"github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/lockmanager"
	"github.com/leasehold/leasehold/test/support/workload"
)

// opener builds a cluster of Leasehold clients for one scenario on its
// own namespace, in dir (a folder that lives as long as the cluster).
type opener func(dir, ns string) (*workload.Cluster, error)

type backend struct {
	name string
	open opener
}

var allBackends = []backend{
	{name: "memory", open: openMemory},
	{name: "sqlite", open: openSQLite},
	{name: "postgres", open: openPostgres},
	{name: "redis", open: openRedis},
	{name: "kubernetes", open: openKubernetes},
}

func openMemory(_, ns string) (*workload.Cluster, error) {
	store := memory.NewStore()
	return workload.APICluster(config(), "memory", func() (backends.Backend, error) { return store.Backend(ns), nil })
}

func openSQLite(dir, ns string) (*workload.Cluster, error) {
	// One file shared by every client, each with its own connections, as
	// several processes on one machine would, and by the holder process.
	u := "sqlite://" + filepath.Join(dir, "chaos.db") + "?namespace=" + url.QueryEscape(ns)
	c, err := workload.APICluster(config(), "sqlite", func() (backends.Backend, error) { return sqlite.Open(context.Background(), u) })
	if err != nil {
		return nil, err
	}
	c.Spawn = spawn(u)
	if c.Resource, err = openResource(context.Background(), u, nil); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// netCluster opens a Leasehold cluster whose clients reach srv through
// proxies: serverURL with the proxy's address and query added.
func netCluster(store string, srv workload.Server, serverURL string, query url.Values, open func(ctx context.Context, u string) (backends.Backend, error)) (*workload.Cluster, error) {
	u0, err := url.Parse(serverURL)
	if err != nil {
		return nil, err
	}
	withHost := func(host string) string {
		u := *u0
		if host != "" {
			u.Host = host
		}
		q := u.Query()
		for k, v := range query {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		return u.String()
	}
	c, err := workload.NetCluster(config(), "leasehold", store, srv, func(_ int, addr string) (workload.Locker, error) {
		b, err := open(context.Background(), withHost(addr))
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), config()), nil
	})
	if err != nil {
		return nil, err
	}
	// The holder process, and the protected resource, reach the server
	// directly.
	c.Spawn = spawn(withHost(""))
	if c.Resource, err = openResource(context.Background(), withHost(""), nil); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

func openPostgres(_, ns string) (*workload.Cluster, error) {
	return netCluster("postgres", pgServer, pgServer.URL(), url.Values{"leasehold_namespace": {ns}},
		func(ctx context.Context, u string) (backends.Backend, error) { return postgres.Open(ctx, u) })
}

func openRedis(_, ns string) (*workload.Cluster, error) {
	c, err := netCluster("redis", redisServer, redisServer.URL(), url.Values{"namespace": {ns}},
		func(ctx context.Context, u string) (backends.Backend, error) { return redis.Open(ctx, u) })
	if err != nil {
		return nil, err
	}
	// Runs without persistence: a restart forgets every grant.
	c.LosesData = true
	return c, nil
}

// holderURLEnv, when set, makes the test binary run as a holder process
// of a process scenario on the backend at that URL (runHolder).
const holderURLEnv = "LEASEHOLD_CHAOS_HOLDER_URL"

// spawn returns a Cluster.Spawn that re-executes the test binary as a
// holder process on the backend at rawURL.
func spawn(rawURL string) func() *exec.Cmd {
	return func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), holderURLEnv+"="+rawURL)
		return cmd
	}
}

// runHolder is the holder process's main.
func runHolder(rawURL string) int {
	return workload.RunHolderProcess(func(ctx context.Context) (workload.Locker, error) {
		cfg, err := workload.HolderConfig()
		if err != nil {
			return nil, err
		}
		b, err := backends.Open(ctx, rawURL)
		if err != nil {
			return nil, err
		}
		return workload.Leasehold(lockmanager.New(b), cfg), nil
	}, func(ctx context.Context) (workload.Resource, error) {
		return openResource(ctx, rawURL, nil)
	})
}
