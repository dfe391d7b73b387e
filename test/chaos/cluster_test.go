//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leasehold/leasehold/internal/faultproxy"
	"github.com/leasehold/leasehold/pkg/backends"
	"github.com/leasehold/leasehold/pkg/backends/backendtest"
	"github.com/leasehold/leasehold/pkg/backends/memory"
	"github.com/leasehold/leasehold/pkg/backends/postgres"
	"github.com/leasehold/leasehold/pkg/backends/redis"
	"github.com/leasehold/leasehold/pkg/backends/sqlite"
	"github.com/leasehold/leasehold/pkg/lockmanager"
)

// cluster is n clients of one backend, each with its own Manager, and the
// faults that can be injected between them and the store.
type cluster struct {
	managers []*lockmanager.Manager
	// isolate partitions client i from the store in both directions.
	isolate func(i int)
	// slow adds latency d in each direction for every client.
	slow func(d time.Duration)
	// reset breaks every client's open connections (network backends) or
	// loses the replies of each client's next call (API-level backends).
	reset func()
	// restart takes the store away and brings it back. fast restarts as
	// quickly as the store can; otherwise the store stays down for longer
	// than the lease (see Redis).
	restart func(t *testing.T, fast bool)
	// heal removes every fault.
	heal func()
}

// opener builds a cluster of n clients on namespace ns and closes it when
// t ends.
type opener func(t *testing.T, ns string, n int) *cluster

// apiCluster is a cluster on API-level faults: every client's backend is
// a Faulty over a slowBackend over its own client of the store.
func apiCluster(t *testing.T, n int, open func() backends.Backend) *cluster {
	faulty := make([]*backendtest.Faulty, n)
	slows := make([]*slowBackend, n)
	c := &cluster{managers: make([]*lockmanager.Manager, n)}
	for i := range n {
		slows[i] = &slowBackend{Backend: open()}
		faulty[i] = backendtest.NewFaulty(slows[i])
		c.managers[i] = lockmanager.New(faulty[i])
		m := c.managers[i]
		t.Cleanup(func() { _ = m.Close() })
	}
	c.isolate = func(i int) { faulty[i].Set(backendtest.Hang) }
	c.slow = func(d time.Duration) {
		for _, s := range slows {
			s.set(d)
		}
	}
	c.reset = func() {
		for _, f := range faulty {
			f.SetNext(backendtest.LoseReplies, 1)
		}
	}
	// Memory and SQLite keep their data in the test process or a file,
	// so a restart is an outage: every call fails for a while.
	c.restart = func(t *testing.T, fast bool) {
		for _, f := range faulty {
			f.Set(backendtest.FailFast)
		}
		outage := leaseDuration + safetyMargin
		if fast {
			outage = 200 * time.Millisecond
		}
		time.Sleep(outage)
		for _, f := range faulty {
			f.Set(backendtest.NoFault)
		}
	}
	c.heal = func() {
		for i := range n {
			faulty[i].Set(backendtest.NoFault)
			slows[i].set(0)
		}
	}
	return c
}

func openMemory(t *testing.T, ns string, n int) *cluster {
	store := memory.NewStore()
	return apiCluster(t, n, func() backends.Backend { return store.Backend(ns) })
}

func openSQLite(t *testing.T, ns string, n int) *cluster {
	// One file shared by every client, each with its own connections, as
	// several processes on one machine would.
	return openSQLiteURL(t, "sqlite://"+filepath.Join(t.TempDir(), "chaos.db")+"?namespace="+url.QueryEscape(ns), n)
}

func openSQLiteURL(t *testing.T, u string, n int) *cluster {
	return apiCluster(t, n, func() backends.Backend {
		b, err := sqlite.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("opening SQLite: %v", err)
		}
		return b
	})
}

// server is a testserver server: restartable, on a fixed loopback port.
type server interface {
	Addr() string
	Start() error
	Stop()
	Restart() error
}

// netCluster is a cluster on network faults: every client reaches the
// server through a faultproxy of its own.
func netCluster(t *testing.T, n int, srv server, serverURL string, query url.Values, open func(ctx context.Context, u string) (backends.Backend, error)) *cluster {
	proxies := make([]*faultproxy.Proxy, n)
	c := &cluster{managers: make([]*lockmanager.Manager, n)}
	for i := range n {
		p, err := faultproxy.Start(srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		proxies[i] = p
		u, err := url.Parse(serverURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = p.Addr()
		q := u.Query()
		for k, v := range query {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		b, err := open(context.Background(), u.String())
		if err != nil {
			_ = p.Close()
			t.Fatalf("opening client %d: %v", i, err)
		}
		c.managers[i] = lockmanager.New(b)
		m := c.managers[i]
		// Cleanups run last-in first-out: the manager closes before its proxy.
		t.Cleanup(func() { _ = p.Close() })
		t.Cleanup(func() { _ = m.Close() })
	}
	c.isolate = func(i int) { proxies[i].Blackhole(faultproxy.Both) }
	c.slow = func(d time.Duration) {
		for _, p := range proxies {
			p.SetLatency(faultproxy.Both, d)
		}
	}
	c.reset = func() {
		for _, p := range proxies {
			p.ResetAll()
		}
	}
	c.restart = func(t *testing.T, fast bool) {
		if fast {
			if err := srv.Restart(); err != nil {
				t.Errorf("restarting the server: %v", err)
			}
			return
		}
		srv.Stop()
		// Down for longer than a lease: every holder's session has
		// ended before the server comes back.
		time.Sleep(leaseDuration + safetyMargin)
		if err := srv.Start(); err != nil {
			t.Errorf("starting the server again: %v", err)
		}
	}
	c.heal = func() {
		for _, p := range proxies {
			p.Heal()
		}
	}
	return c
}

func openPostgres(t *testing.T, ns string, n int) *cluster {
	return netCluster(t, n, pgServer, pgServer.URL(), url.Values{"leasehold_namespace": {ns}},
		func(ctx context.Context, u string) (backends.Backend, error) { return postgres.Open(ctx, u) })
}

func openRedis(t *testing.T, ns string, n int) *cluster {
	return netCluster(t, n, redisServer, redisServer.URL(), url.Values{"namespace": {ns}},
		func(ctx context.Context, u string) (backends.Backend, error) { return redis.Open(ctx, u) })
}

// namespaces gives every scenario a namespace of its own.
var namespaces atomic.Int64

func newNamespace(backend, scenario string) string {
	return fmt.Sprintf("chaos-%s-%s-%d", backend, scenario, namespaces.Add(1))
}
