package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/leasehold/leasehold/test/support/testserver"
	"github.com/leasehold/leasehold/test/support/workload"
)

// store is one server that every library of the store takes its leases
// on, scenario after scenario.
type store struct {
	name string
	srv  workload.Server
	// base is the target without library and namespace.
	base target
	// losesData: a restart empties the store (Redis without persistence).
	losesData bool
	// restartable: srv can be stopped and started.
	restartable bool
	// prepare readies the store for one scenario's target before its
	// clients open (a Kubernetes namespace, pglock's table).
	prepare func(ctx context.Context, t target) error
}

// open opens one scenario's cluster of locker clients on the store: each
// client through a faultproxy of its own (workload.NetCluster), holder
// processes straight to the server.
func (s *store) open(ctx context.Context, cfg workload.Config, locker, ns string) (*workload.Cluster, error) {
	t := s.base
	t.Locker, t.Namespace = locker, ns
	if s.prepare != nil {
		if err := s.prepare(ctx, t); err != nil {
			return nil, err
		}
	}
	// Leasehold's Kubernetes clients judge expiry by their own clocks,
	// which the skew scenarios set (client-go's LeaderElector takes no
	// clock: the skew scenarios do not apply to it).
	var clocks []*workload.SkewClock
	skewable := s.name == storeKubernetes && locker == lockerLeasehold
	c, err := workload.NetCluster(cfg, locker, s.name, s.srv, func(_ int, addr string) (workload.Locker, error) {
		var clk *workload.SkewClock
		if skewable {
			clk = &workload.SkewClock{}
			clocks = append(clocks, clk)
		}
		return dial(ctx, cfg, t, addr, clk)
	})
	if err != nil {
		return nil, err
	}
	if skewable {
		c.Skew = func(i int, d time.Duration) { clocks[i].Set(d) }
	}
	c.LosesData = s.losesData
	if !s.restartable {
		c.Restart = nil
	}
	if c.Spawn, err = spawn(t); err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return c, nil
}

// startStore starts the store's server and returns it with the function
// that stops it.
func startStore(o options, name string) (*store, func(), error) {
	switch name {
	case storeRedis:
		srv, stop, err := testserver.StartRedisForMain()
		if err != nil {
			return nil, nil, fmt.Errorf("starting Redis: %w", err)
		}
		// testserver's Redis runs without persistence: a restart forgets
		// every lock.
		return &store{name: name, srv: srv, base: target{Store: name, URL: srv.URL()}, losesData: true, restartable: true}, stop, nil
	case storePostgres:
		srv, stop, err := testserver.StartPostgresForMain()
		if err != nil {
			return nil, nil, fmt.Errorf("starting PostgreSQL: %w", err)
		}
		st := &store{name: name, srv: srv, base: target{Store: name, URL: srv.URL()}, restartable: true}
		st.prepare = func(_ context.Context, t target) error {
			if t.Locker != lockerPglock {
				return nil // Leasehold migrates its own table
			}
			// Once per scenario, before the clients open: pglock's
			// TryCreateTable from eight clients at once races in
			// PostgreSQL's catalog.
			c, db, err := openPglock(o.cfg, t, "")
			if err != nil {
				return err
			}
			defer db.Close()
			return c.TryCreateTable()
		}
		return st, stop, nil
	case storeKubernetes:
		return startKubernetes(o)
	}
	return nil, nil, fmt.Errorf("unknown store %q", name)
}
