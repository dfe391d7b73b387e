// Package linearize checks that a backend's operations are linearizable:
// that every Acquire, Renew, Release and Get of a history can be placed at
// one instant between its call and its return so that, in that order, the
// results are exactly what one lock record per key, following the Backend
// contract (package backends), would have answered. The check is
// github.com/anishathalye/porcupine's; this package gives it the model of a
// lock record and a recorder that turns calls on a backends.Backend into
// porcupine operations.
//
// # What the model covers
//
// One lock record per key (the history is partitioned by key): whether it
// exists, its holder (empty when released), version, fencing token and
// metadata, and a lower bound for the next grant's token, which keeps the
// fencing rule across releases and deletes. Acquire grants a free or
// missing record (token at least the bound, a version other than the
// current one, the caller's metadata), extends the caller's own grant (same
// token, new version, metadata kept unless given) and refuses another
// holder's with ErrLockHeld naming that holder (or nobody, which the
// contract allows when the holder left between the refusal and the read).
// Renew and Release check, in the contract's order, ErrNotFound,
// ErrNotHolder and ErrVersionMismatch. Get returns the record exactly, with
// Held true only for a holder.
//
// Time is out of the model: it is only sound for histories whose leases are
// so long that no lease expires while they are recorded. Expiry is the
// part that depends on real time, and package test/support/history checks it
// (believed intervals, fencing) instead. An ErrLeaseExpired answer is
// therefore a violation here.
//
// # Values chosen by the store
//
// Versions and tokens are the store's choice. The model accepts any value
// the contract allows (a token at or above the bound, a version other than
// the current one) and carries the observed value forward. Where an
// operation's effect is certain but its value unknown (a release without
// delete changes the version but does not return it; an ambiguous grant's
// token), the state keeps "unknown" with the constraint it must meet, and
// the first read that shows the value checks it and fixes it.
//
// Versions are assumed never to be reused for a key: a version the record
// takes without anyone seeing it is new, so a Renew or Release presenting
// any version the caller could know does not match it. Every backend draws
// versions from a counter or the store's revision, and compare-and-swap on a
// reused version (ABA) would let a stale caller through, so this is the
// property the contract's compare-and-swap needs.
//
// # Ambiguous outcomes
//
// A call that failed with ErrUnavailable, a context error or an error
// outside the contract's set may or may not have taken effect, and may take
// effect after the caller saw the error (a request still in flight when the
// connection was reset). Its output is Unknown, its return is placed after
// every other operation of the history, and the model lets it either take
// effect (with unknown version and token) or not, as porcupine's
// nondeterministic models do. A Get that failed constrains nothing and is
// left out.
package linearcheck
