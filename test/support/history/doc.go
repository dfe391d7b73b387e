// Package history records what the clients of a lock believed and did
// during a test, and checks the result against the lock contract's safety
// properties.
//
// A client records one Interval per grant: from the moment Hold (or
// Acquire) returned until it stopped believing it held the lease, which is
// the earlier of the moment it decided to release and the moment its
// session's Context was cancelled (recorded with context.AfterFunc). Every
// guarded write goes through a Register, the protected resource, which
// rejects tokens lower than the highest it has accepted, as the contract
// asks of every protected resource.
//
// Clock rule: every moment is read from one shared Clock, the time since a
// single start on Go's monotonic clock, never wall time, so that moments
// recorded by different goroutines compare exactly and a wall-clock step
// during the test changes nothing.
//
// Check verifies, per key:
//
//   - mutual exclusion: no two believed intervals overlap (touching, one
//     ending at the very moment the next starts, is fine);
//   - fencing: tokens strictly increase in grant order (intervals sorted by
//     start); the one exception is the same client's next interval with
//     the same token, which is the same grant continued (an acquire by the
//     current holder is a renewal and keeps the token). Two intervals that
//     overlap are a violation already; their starts need not be in grant
//     order (a client whose clock runs ahead takes over a fresh grant and
//     its Hold may return first), so between them only distinct tokens
//     are required;
//   - the protected resource accepted no stale write: replaying its
//     accepted writes in the order it accepted them, none carries a token
//     lower than one accepted before it.
//
// Porcupine (linearizability checking) is not used here: these properties
// are about time intervals and token order, which direct checks state
// exactly, and a lease's state depends on real time (expiry), which a
// sequential model cannot express. Where time decides nothing, porcupine
// does fit, and package test/support/linearcheck (run by test/linearize) uses it:
// with leases of an hour, every backend's Acquire, Renew, Release and Get,
// recorded call and return on one monotonic clock, must take effect
// atomically at one instant between the two, following the contract's
// model of one record per key (grants, refusals, compare-and-swap on the
// version, the error order, token order across deletes, metadata), also
// when connections are reset and outcomes are ambiguous. That check covers
// the store's operations; this package covers what it leaves out, expiry
// and what clients believe and do with their leases over real time.
package history
