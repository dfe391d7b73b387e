// Package backends defines the contract between Leasehold's portable lock API
// (package lockmanager) and the stores that keep lock records: memory,
// SQLite, PostgreSQL, Redis and Kubernetes.
//
// A backend performs single attempts. It never waits for a held lock, never
// validates caller input beyond what its own storage needs, and never applies
// defaults: package lockmanager does all of that once, for every backend.
// What a backend promises is written on each method of [Backend]; the
// conformance suite in package backendtest checks every promise against every
// backend.
//
// Errors returned by a backend are, or wrap, exactly one of the sentinel
// errors in this package (tested with errors.Is). Failures of the store
// itself (network, timeouts, a server that is down) wrap [ErrUnavailable] so
// that callers know the operation may be retried.
package backends
