// Package linearize checks every backend's operations for linearizability
// with porcupine (package test/support/linearcheck holds the model).
//
// For each backend (memory, SQLite on a file, PostgreSQL, Redis, and
// Kubernetes on envtest), eight clients, each with a backend client of its
// own and three holders, run a random mix of Acquire (no wait), Renew,
// Release (keeping and deleting the record) and Get on two keys for about
// two seconds, with leases of an hour, so that no lease expires during the
// run and the store is a deterministic object. Every call and return is
// recorded on one monotonic clock, and the history must be linearizable
// against the contract's sequential model of one lock record per key.
//
// A second run per backend injects faults that make outcomes ambiguous:
// the network backends reach their server through a faultproxy each, and
// every client's connections are reset every 100 to 200 ms; memory and
// SQLite lose the reply of a call that took effect, or fail a call before
// it reaches the store (backendtest.Faulty). The model lets every such
// call take effect at any later moment, or not at all.
//
// A violation fails the test with the path of porcupine's visualization
// (an HTML file kept in a temporary folder) and a text dump of the
// history. A check that runs out of time fails too: it proves nothing.
//
// The servers (PostgreSQL, Redis, envtest) start once in TestMain. The
// package runs as part of `go test ./...` (make test) with no build tag;
// KUBEBUILDER_ASSETS points at the envtest binaries (make setup-envtest).
package linearize
