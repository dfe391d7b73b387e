// Command leader-manager is a controller-runtime manager that elects its
// leader through a Leasehold lock instead of a coordination.k8s.io Lease:
// on PostgreSQL, Redis or SQLite (for operators that run outside the
// cluster they manage, or that already depend on one of these stores), or
// on a DistributedLock object.
//
//	make dev   # in another terminal: a local control plane
//	go run ./examples/leader-manager --kubeconfig bin/dev/kubeconfig --backend sqlite:///tmp/leader.db --id a &
//	go run ./examples/leader-manager --kubeconfig bin/dev/kubeconfig --backend sqlite:///tmp/leader.db --id b
//
// Only one of the two runs its leader-only work; stop it (Ctrl-C) and the
// other takes over.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/leasehold/leasehold/pkg/leaderelection/clientgolock"
	"github.com/leasehold/leasehold/pkg/lockmanager"

	_ "github.com/leasehold/leasehold/pkg/backends/kubernetes"
	_ "github.com/leasehold/leasehold/pkg/backends/postgres"
	_ "github.com/leasehold/leasehold/pkg/backends/redis"
	_ "github.com/leasehold/leasehold/pkg/backends/sqlite"
)

func main() {
	// --kubeconfig is controller-runtime's own flag (ctrl.GetConfig).
	backend := flag.String("backend", "sqlite:///tmp/leasehold-leader.db", "lock backend URL for the election")
	id := flag.String("id", "", "this replica's identity (default: host name and process ID)")
	flag.Parse()
	ctrl.SetLogger(zap.New())

	if err := run(ctrl.SetupSignalHandler(), *backend, *id); err != nil {
		fmt.Fprintln(os.Stderr, "leader-manager:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, backend, id string) error {
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	locks, err := lockmanager.Open(ctx, backend)
	if err != nil {
		return err
	}
	defer locks.Close()
	const electionKey = "example-operator-leader"
	lock, err := clientgolock.New(locks, electionKey, id)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Metrics:                             metricsserver.Options{BindAddress: "0"},
		LeaderElection:                      true,
		LeaderElectionID:                    electionKey,
		LeaderElectionResourceLockInterface: lock,
		LeaderElectionReleaseOnCancel:       true,
	})
	if err != nil {
		return err
	}
	// Controllers added to mgr run only on the leader; so does this
	// Runnable, which stands in for them.
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		log := ctrl.LoggerFrom(ctx).WithValues("identity", id)
		log.Info("Leading: starting leader-only work")
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				log.Info("Stopping leader-only work")
				return nil
			case <-t.C:
				log.Info("Working as leader")
			}
		}
	})); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
