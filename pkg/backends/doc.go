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
//
// Every backend package has the same shape. New(client, opts...) returns a
// *Backend over a client the caller built and keeps owning (memory's New
// needs none and cannot fail); Open(ctx, rawURL, opts...) builds its own
// client from a URL, checks that the store answers, and closes that client
// on Close. Options are With functions of type Option; WithNamespace
// scopes every backend ("" means "default"), and options given to Open
// apply after the URL's. Importing the package registers its URL schemes
// for [Open]. The files are doc.go, backend.go (the Backend and New),
// open.go (URLs and Open), statements.go or scripts.go (what is sent to
// the store), notify.go (change notifications) and migrate.go (schema).
package backends
