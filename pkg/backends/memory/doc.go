// Package memory is Leasehold's reference backend: lock records in a map
// guarded by one mutex, judged by an injectable clock.
//
// It keeps the whole contract of package backends, including change
// notifications for waiters, and is what the conformance suite is first
// proven against. Records live as long as the Store: use it for tests and
// for coordinating goroutines of one process. Clock rule: the Store's clock
// (the local clock by default) decides expiry; every client shares it, so
// there is no skew.
//
// Fencing tokens and versions come from Store-wide counters, so a key's
// token keeps rising across deletes without remembering deleted keys.
package memory
