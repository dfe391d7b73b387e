// Command scheduler is a background scheduler that must run on exactly one
// node: the use Leasehold exists for. Start it on several machines (or
// several times on one); one instance processes jobs, the others wait, and
// when the active one stops or loses its lease another takes over.
//
//	go run ./examples/scheduler --backend sqlite:///tmp/locks.db
//	go run ./examples/scheduler --backend redis://localhost:6379/0
//
// Each job is processed under the session's context, which is cancelled the
// moment the lease may be lost, and carries the session's fencing token so
// that the job's target can refuse a former holder that was paused past its
// lease.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/leasehold/leasehold/pkg/lockmanager"

	_ "github.com/leasehold/leasehold/pkg/backends/memory"
	_ "github.com/leasehold/leasehold/pkg/backends/postgres"
	_ "github.com/leasehold/leasehold/pkg/backends/redis"
	_ "github.com/leasehold/leasehold/pkg/backends/sqlite"
)

func main() {
	backend := flag.String("backend", "sqlite:///tmp/leasehold-scheduler.db", "lock backend URL")
	key := flag.String("key", "scheduler:background:lease", "lock key")
	lease := flag.Duration("lease", 10*time.Second, "lease duration (failover time after a crash)")
	tick := flag.Duration("tick", time.Second, "time between jobs")
	runFor := flag.Duration("run-for", 0, "stop after this long (0: until SIGINT/SIGTERM)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	host, _ := os.Hostname()
	holder := fmt.Sprintf("%s:%d", host, os.Getpid()) // one identity per process
	if err := run(ctx, *backend, *key, holder, *lease, *tick); err != nil {
		fmt.Fprintln(os.Stderr, "scheduler:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, backend, key, holder string, lease, tick time.Duration) error {
	m, err := lockmanager.Open(ctx, backend)
	if err != nil {
		return err
	}
	defer m.Close()

	for ctx.Err() == nil {
		// Wait (woken by release notifications where the backend has them)
		// until this instance is the one.
		sess, err := lockmanager.Hold(ctx, m, lockmanager.AcquireOptions{
			Key: key, Holder: holder, LeaseDuration: lease, Wait: time.Hour,
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, lockmanager.ErrLockHeld) || errors.Is(err, lockmanager.ErrUnavailable) {
				continue
			}
			return err
		}
		slog.Info("Leading", "key", key, "holder", holder, "fencingToken", sess.FencingToken())
		processWhileHeld(sess, tick)
		_ = sess.Release(context.Background())
		slog.Info("Stopped leading", "reason", sess.Err())
	}
	return nil
}

// processWhileHeld runs a job every tick until the session ends.
func processWhileHeld(sess *lockmanager.Session, tick time.Duration) {
	work := sess.Context()
	t := time.NewTicker(tick)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-work.Done():
			return
		case <-t.C:
		}
		// A real job would pass the token to the system it writes to.
		slog.Info("Processed job", "job", n, "fencingToken", sess.FencingToken())
	}
}
