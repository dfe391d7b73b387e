// Package leaderelection elects one leader among candidates over any
// Leasehold backend (memory, SQLite, PostgreSQL, Redis, Kubernetes): the
// leader is the holder of one lock, kept by a lockmanager.Session
// heartbeat.
//
//	err := leaderelection.Run(ctx, leaderelection.Config{
//		Manager:       m, // lockmanager.Open(ctx, "postgres://...")
//		Key:           "billing:scheduler",
//		Identity:      podName,
//		LeaseDuration: 15 * time.Second,
//		Callbacks: leaderelection.Callbacks{
//			OnStartedLeading: func(ctx context.Context) {
//				lease, _ := leaderelection.Lease(ctx)
//				runScheduler(ctx, lease.FencingToken) // until ctx is cancelled
//			},
//			OnStoppedLeading: func() { log.Print("no longer leading") },
//			OnNewLeader:      func(id string) { log.Printf("leader: %s", id) },
//		},
//	})
//	if errors.Is(err, leaderelection.ErrLeadershipLost) {
//		os.Exit(1) // restart and campaign again with fresh state
//	}
//
// # What it promises
//
// At most one candidate holds the lease at a time: the store decides, with
// the lock contract's compare-and-swap, whoever's view of time is stale.
// The leader's context (the one OnStartedLeading receives) is cancelled the
// moment leadership may be lost: when the store refuses a renewal, or when
// no renewal was confirmed by the holder-side safe deadline. That deadline
// is counted on the leader's own monotonic clock from when it sent the last
// confirmed renewal, LeaseDuration minus SafetyMargin later, so it falls
// before the store can let another candidate take over. When Run's context
// ends, the leader's context is cancelled, Run waits for OnStartedLeading
// to return and only then releases the lease, so the next leader starts
// without waiting for expiry and never overlaps the previous leader's work.
// Run serves one term, as client-go's leader election does; see Run.
//
// # Clocks
//
// Whose clock decides expiry is the backend's rule (see each backend's
// package documentation: the server's clock for PostgreSQL and Redis, the
// local clock for SQLite and memory, each party's own clocks for
// Kubernetes, by the rule of package lease). The leader gives leadership
// up by its own monotonic clock, as above, which is safe on every backend.
//
// # Fencing
//
// Timing alone cannot stop a leader that was paused (GC, a stopped VM)
// past its lease from writing once more. Every term's lease carries a
// fencing token (Lease(ctx).FencingToken) strictly greater than every
// earlier term's, across releases, expiries and deletions, on every
// backend; the resource the leader writes to should refuse tokens lower
// than the highest it has seen.
//
// Package clientgolock adapts a lock to client-go's resourcelock.Interface,
// for controller-runtime managers and other users of client-go's leader
// election.
package leaderelection
