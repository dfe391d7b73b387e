// Package clientgolock lets client-go's leader election (and so a
// controller-runtime manager) elect its leader through a Leasehold lock on
// any backend: PostgreSQL, Redis, SQLite, memory or a DistributedLock
// object.
//
//	m, _ := lockmanager.Open(ctx, "postgres://leasehold@db/locks")
//	lock, _ := clientgolock.New(m, "my-operator-leader", podName)
//	mgr, _ := ctrl.NewManager(cfg, ctrl.Options{
//		LeaderElection:                      true,
//		LeaderElectionID:                    "my-operator-leader",
//		LeaderElectionResourceLockInterface: lock,
//		LeaderElectionReleaseOnCancel:       true,
//	})
//
// or, with client-go directly:
//
//	leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
//		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second,
//		RetryPeriod: 2 * time.Second, ReleaseOnCancel: true, Callbacks: ...,
//	})
//
// # Mapping
//
// client-go reads the record with Get, decides for itself whether the
// current lease has expired (it counts LeaseDuration from the moment it saw
// the record change, on its own clock), and writes a record naming itself
// with Update. A Lock translates those writes into the lock contract's
// operations with compare-and-swap, so that the store stays the authority
// even when client-go's view is stale: see Lock.Update. Both judgments
// apply: client-go tries only when it believes the lease is free, and the
// store grants only a lock that is free or expired by its own clock rule
// (the server's clock for PostgreSQL and Redis, the local clock for SQLite
// and memory, each party's own clocks for Kubernetes; see each
// backend). Two candidates can never both hold the lease.
//
// The record's fields map onto the lock's: HolderIdentity is the holder
// (empty when the store says the lease is released or expired, so that
// client-go tries at once), LeaseDurationSeconds the lease, AcquireTime and
// RenewTime the grant's and last renewal's times; LeaderTransitions,
// Strategy and PreferredHolder are kept in the lock's metadata (see the
// Metadata constants). Renewals keep the grant's fencing token and every
// new leader's token is greater than every earlier one's, on every
// backend: read it with the lock manager's Get.
//
// Coordinated leader election (LeaderElectionConfig.Coordinated) needs the
// Kubernetes LeaseCandidate API and is not supported.
//
// Leadership in client-go ends when its renewals fail for RenewDeadline;
// choose RetryPeriod + RenewDeadline well below LeaseDuration (client-go's
// and controller-runtime's defaults, 2 s + 10 s against 15 s, do), so that
// the old leader stops before the store lets another candidate in.
package clientgolock
