// Package chaos is the workload, fault scenarios and report of Leasehold's
// proof under faults, shared by test/chaos (Leasehold on every backend,
// part of make test) and bench/compare -chaos (the same workload on the
// lock libraries people use today, side by side with Leasehold).
//
// A Cluster is N clients of one store, each with a Locker (Leasehold's
// lockmanager.Hold, or another library used the way its documentation
// shows), and the faults that can be injected between them and the store:
// a faultproxy per client for network stores (partition, latency,
// connection resets), server stop and restart, per-client clock offsets
// where clients' clocks decide expiry, and holder processes of their own
// that are killed with SIGKILL or frozen with SIGSTOP.
//
// A Workload is the clients' loop: Hold a key, work for a random time
// while watching the lease's Context, write to a protected resource
// (history.Register) only while the Context is alive, release. Every
// client records the interval in which it believed it held the lease (from
// the moment Hold returned until it released or its lease's Context
// ended) on one monotonic clock (history.Clock), and every write with its
// fencing token. Run checks the history (history.Check): no two believed
// intervals on a key overlap, tokens strictly increase in grant order,
// and the resource, which refuses a token lower than the highest it has
// seen, accepted no stale write. A library without fencing tokens writes
// unfenced: its grants are numbered in the order they were believed, and a
// write from an older grant after a newer one wrote counts as a stale
// write accepted.
//
// Clock rule: beliefs are timed on the checker's one monotonic clock; each
// store decides expiry by its own rule (see its backend's doc), and a
// Leasehold holder stops believing a safety margin before the lease it
// counted from the moment it sent the request ends.
package workload
