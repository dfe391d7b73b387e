// Package lockmanager is the API that schedulers and services import to
// coordinate through Leasehold locks: acquire, renew, release, get and list
// leases, and hold one with a heartbeat [Session] that stops work the moment
// the lease may be lost.
//
// A [Manager] wraps one backend (memory, SQLite, PostgreSQL, Redis or
// Kubernetes; see package backends). It validates every option against the
// bounds of the lock contract, applies defaults, waits for held locks
// (woken by the backend's change notifications where it has them, polling
// with jitter otherwise) and reports each operation to an [Observer]
// (package lockmetrics exports them to Prometheus).
//
// A waiting Acquire (Wait > 0) of a free key costs what a try costs: one
// backend call, no subscription. Only when the key is held does it
// subscribe to the backend's notifications for the key; that subscription
// is shared by all of the Manager's waiters on the key and outlives the
// last of them by a few seconds, so that a stream of waiting Acquires on a
// contended key subscribes once. A release wakes one waiter of the
// Manager, the one waiting longest, and a new waiting Acquire queues
// behind the Manager's waiters instead of trying first. Managers do not
// coordinate: across Managers the store decides which waiter's try lands
// first. Close ends the subscriptions and wakes every waiting Acquire,
// which returns ErrClosed at once.
//
// Every grant carries a fencing token that is strictly greater than every
// earlier grant's for the same key, on every backend. Pass it with each
// write to the resource the lock protects, and have the resource refuse
// tokens lower than the highest it has seen: that, not timing, is what keeps
// a paused or partitioned former holder from doing damage.
//
// Errors are a closed set of sentinels, tested with errors.Is:
// [ErrInvalidArgument], [ErrLockHeld] (with [HeldError] via errors.As),
// [ErrNotFound], [ErrNotHolder], [ErrVersionMismatch], [ErrLeaseExpired],
// [ErrClosed] and [ErrUnavailable]; a call whose context ends, or had
// ended before the call, returns the context's error wrapped with the key.
// Sessions end with [ErrReleased] or [ErrLost] in addition.
package lockmanager
