// Package chaos is Leasehold's proof under faults: N clients contend for a
// few keys through lockmanager.Hold on every backend (memory, SQLite,
// PostgreSQL, Redis) while faults are injected, and a recorded history is
// checked for the contract's safety properties (internal/history): no two
// clients ever believed they held the same key at once, fencing tokens
// strictly increased in grant order, and the protected resource accepted no
// stale write.
//
// Faults reach PostgreSQL and Redis at the network level, through one
// internal/faultproxy per client in front of a real server
// (internal/testserver): server restarts, a partition of one holder longer
// than the lease, slow links and connection resets. Memory and SQLite have
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
// One scenario is reported rather than failed on overlaps: a quick restart
// of Redis, which runs without persistence, forgets the current grant, so
// another client is granted the key while the old holder still believes
// it holds it until its next renewal. The contract does not promise
// exclusion there (see package redis: only fencing protects, since every
// new token is above the old ones), and the scenario checks exactly that:
// tokens still rise and the protected resource accepts no stale write.
// Its slow twin, down for longer than a lease, must show no overlap.
//
// A holder paused for longer than the lease (a stop-the-world pause, a
// suspended VM) needs a process of its own: the test binary re-executes
// itself as a holder on a shared SQLite file, is stopped with SIGSTOP in
// the middle of its work and resumed with SIGCONT. Overlaps are inherent
// there (a stopped process cannot notice that time passed) and are
// reported, not failed; the scenario checks that fencing holds: the
// resumed process's late write is refused. It runs on SQLite only, since
// the backends share the session code that decides when a holder stops
// believing.
package chaos
