// Package memory is Leasehold's reference backend: lock records in a map
// guarded by one mutex, judged by an injectable clock. It keeps the whole
// contract of package backends, change notifications included, and is what
// the conformance suite is first proven against. Records live as long as
// their [Store]: use it for tests and for coordinating goroutines of one
// process.
//
// Importing the package registers the URL scheme memory://NAMESPACE
// (memory:// for "default"); [Open] returns a client of one Store shared
// by the whole process. [New] needs no client and cannot fail: it returns
// a client of a Store of its own, or of the Store given with [WithStore].
// Options: [WithNamespace] and [WithStore]; [NewStore] takes [WithClock].
//
// The Store's clock (the local clock by default) decides expiry, and every
// client shares it. Fencing tokens and versions come from a Store-wide
// counter, so a key's token keeps rising across deletes without the Store
// remembering deleted keys.
package memory
