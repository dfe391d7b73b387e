// Package chaos is Leasehold's proof under faults: N clients contend for a
// few keys through lockmanager.Hold on every backend (memory, SQLite,
// PostgreSQL, Redis, Kubernetes) while faults are injected, and a recorded
// history is checked for the contract's safety properties (test/support/history): no two
// clients ever believed they held the same key at once, fencing tokens
// strictly increased in grant order, and the protected resource accepted no
// stale write.
//
// Faults reach PostgreSQL, Redis and Kubernetes at the network level,
// through one test/support/faultproxy per client in front of a real server
// (test/support/testserver; for Kubernetes one envtest control plane for the
// whole test binary, workload.KubeServer): server restarts, a partition of
// one holder longer than the lease, slow links and connection resets. Memory and SQLite have
// no network, so the same scenarios are injected at the API level with
// backendtest.Faulty (and a small latency wrapper for slow calls).
//
// Clock rule: the clients' beliefs are timed on one shared monotonic clock
// (history.Clock), and each backend decides expiry by its own rule (see
// its doc). A client's believed interval ends the moment its session's
// Context is cancelled (context.AfterFunc) or it decides to release, which
// with a 500 ms safety margin is well before the store can grant the key
// to anyone else.
//
// The tests carry the build tag "chaos", so that the plain `go test ./...`
// of `make test` does not run them a second time: `make test-chaos` (part
// of `make test`) runs every scenario for a few seconds, with -race, and
// fails on any violation. For a longer run:
//
//	make test-chaos CHAOS_ARGS='-chaos.duration=60s -v'
//	go test -tags chaos -race ./test/chaos/ -chaos.duration=60s -v
//
// Three scenarios report overlaps rather than fail on them: the pause
// and clock skew beyond the allowance on Kubernetes (both below), and a
// quick restart of Redis. Redis runs without persistence, so the restart
// forgets the current grant, and another client is granted the key while
// the old holder still believes it holds it until its next renewal. The
// contract does not promise
// exclusion there (see package redis: only fencing protects, since every
// new token is above the old ones), and the scenario checks exactly that:
// tokens still rise and the protected resource accepts no stale write.
// Its slow twin, down for longer than a lease, must show no overlap.
//
// A holder killed with SIGKILL, or paused with SIGSTOP for longer than the
// lease (a stop-the-world pause, a suspended VM), needs a process of its
// own: the test binary re-executes itself as a holder on the same store
// (SQLite's file, the PostgreSQL and Redis servers directly, the API
// server through a kubeconfig written for the scenario) and contends with
// the cluster's clients for one key. A killed holder believes nothing, so
// no overlap is allowed: the others wait for its lease to run out. A paused
// one is stopped in the middle of its work and resumed with SIGCONT;
// overlaps are inherent there (a stopped process cannot notice that time
// passed) and are reported, not failed; the scenario checks that fencing
// holds: the resumed process's late write is refused.
//
// holder-paused-fenced makes the same pause prove fencing at the real
// protected resource of each store: every write, the clients' and the
// paused process's own, goes through the helper a user would use (fencesql
// on a table of the SQLite file and the PostgreSQL server, fenceredis on a
// key of the Redis server, and on Kubernetes a ConfigMap stamped by
// fencekube and judged by config/fencing's admission policy, which the test
// installs). The process checks its lease as its work begins and writes when
// it ends; it is resumed only after another client's write with a higher
// token was accepted, so every pause yields a late write. The run fails on
// any stale write the resource accepted, and also when it refused no late
// write, which would prove nothing; the report adds a table of writes,
// refusals and late writes per resource.
//
// # Kubernetes
//
// Every Kubernetes scenario has a namespace of its own on the shared
// envtest API server (kube-apiserver and etcd, CRDs from config/crd).
// Each client is a kubernetes.Backend with a controller-runtime client of
// its own whose connections, watches included, go through its own proxy;
// requests are bounded by their context only (no client timeout, no rate
// limiter; TestKubernetesBlackholeEndsWithContext checks it). The
// DistributedLock controller runs beside them as production runs it (a
// manager of its own, default skew allowance, reaching the API server
// directly, not through a proxy), so that its reaps race with the
// clients' renewals under every fault.
//
//   - A partition blackholes one holder's connections to the API server
//     for longer than the lease: its renewals hang until the session's
//     deadline ends them, the session ends its belief at the safe deadline,
//     and the others (and the reaper) take the key only after seeing its
//     lease unchanged for a full lease on their own monotonic clocks. No
//     overlap is allowed.
//   - A restart stops kube-apiserver (SIGTERM; open watches get a 1 s
//     grace) and starts it again on the same address with the same
//     certificates while etcd keeps every object, so no grant is forgotten
//     and no overlap is allowed. Starting takes a few seconds, longer than
//     the lease, so holders lose their leases while it is down.
//   - Skew: Kubernetes has no server clock; each client judges expiry on
//     its own clocks by the rule of package lease, which trusts the
//     holder's renewTime within the skew allowance
//     (kubernetes.DefaultSkewAllowance, 1 s). Each client's backend reads a
//     workload.SkewClock whose wall time is offset (its monotonic time is
//     not). clock-skew-within spreads the offsets over 80% of the
//     allowance: the contract still promises exclusion, and any overlap
//     fails. clock-skew-beyond spreads them over twice the lease plus four
//     allowances, so a client whose clock runs ahead judges live leases
//     expired and takes them: overlaps are reported, not failed, and
//     fencing must still hold (the takeover is a guarded update, its token
//     is higher, and the protected resource refuses the older holder's
//     writes). The controller keeps the true clock, so in clock-skew-beyond
//     it also reaps leases whose holders' clocks run behind.
package chaos
