package backends

import (
	"context"
	"time"
)

// AcquireRequest asks for one attempt to take a lock.
type AcquireRequest struct {
	// Key is the lock's name (validated by the caller).
	Key string
	// Holder is the identity asking for the lease.
	Holder string
	// LeaseDuration is how long the grant lasts unless renewed.
	LeaseDuration time.Duration
	// Metadata replaces the record's metadata. On a new grant nil means no
	// metadata; on a re-acquire by the current holder nil keeps it.
	Metadata map[string]string
	// Watched says that the caller holds a live subscription to Key (see
	// Notifier) and tries again on each of its signals. A backend that
	// implements WatchRefuser may then refuse a key held by another from
	// the last state its subscriptions delivered, without asking the
	// store; backends that do not ignore it.
	Watched bool
	// HolderPod is the Kubernetes Pod the holder runs in, or nil. The
	// Kubernetes backend binds a new grant to it when the Pod is in the
	// lock's namespace (the controller then frees the lock once the Pod is
	// gone); a re-acquire by the current holder keeps the binding unless
	// HolderPod is set. Other backends ignore it.
	HolderPod *PodRef
}

// PodRef names a Kubernetes Pod. Namespace and Name say where it is; UID
// tells it apart from a later Pod of the same name.
type PodRef struct {
	Namespace string
	Name      string
	UID       string
}

// RenewRequest asks to extend a lease the caller holds.
type RenewRequest struct {
	Key     string
	Holder  string
	Version string
	// LeaseDuration is the new lease, counted from the renewal.
	LeaseDuration time.Duration
	// Metadata, when not nil, replaces the record's metadata.
	Metadata map[string]string
}

// ReleaseRequest asks to give a lease up.
type ReleaseRequest struct {
	Key     string
	Holder  string
	Version string
	// Delete removes the record instead of keeping it as released. The next
	// grant's fencing token is still greater than every earlier one.
	Delete bool
}

// ListRequest asks for one page of records.
type ListRequest struct {
	// Prefix selects keys that start with it; empty selects all.
	Prefix string
	// Limit is the page size, at least 1.
	Limit int
	// PageToken is the NextPageToken of the previous page, or empty for the
	// first page.
	PageToken string
}

// ListPage is one page of a listing.
type ListPage struct {
	// Locks are sorted by key (byte order).
	Locks []Lock
	// NextPageToken is empty on the last page.
	NextPageToken string
}

// Backend keeps lock records for one namespace. All methods are safe for
// concurrent use. Every method honours ctx's cancellation and deadline.
//
// Errors are, or wrap, the sentinels of this package. Each method lists
// the ones it returns for a decided outcome; any method may also return
// ErrUnavailable (the store failed; the outcome is unknown),
// ErrPermissionDenied (the store refused the caller; nothing happened),
// ErrClosed (after Close), or the context's error wrapped with the key (see
// CheckContext), also when the context had ended before the call, which
// then does nothing.
type Backend interface {
	// Acquire makes one attempt, deciding and writing atomically:
	//   - no record, a released record, or an expired lease: grant to
	//     req.Holder with a new version, a fencing token greater than every
	//     earlier grant's for this key (even across deletes), AcquiredAt =
	//     RenewedAt = now, ExpiresAt = now + LeaseDuration and the caller's
	//     metadata (never the previous holder's);
	//   - an unexpired lease of req.Holder: renew it (new version, same
	//     token, same AcquiredAt, metadata replaced when req.Metadata is not
	//     nil);
	//   - an unexpired lease of another holder: a *HeldError (ErrLockHeld)
	//     with that holder and its expiry.
	// Among any number of concurrent attempts on a grantable key, exactly
	// one is granted.
	Acquire(ctx context.Context, req *AcquireRequest) (Lock, error)

	// Renew extends req.Holder's lease to now + req.LeaseDuration with a new
	// version and the same token. Checked in this order: ErrNotFound (no
	// record), ErrNotHolder (another or no holder), ErrVersionMismatch,
	// ErrLeaseExpired (the lease ran out; acquire again).
	Renew(ctx context.Context, req *RenewRequest) (Lock, error)

	// Release gives the lease up: ErrNotFound, ErrNotHolder or
	// ErrVersionMismatch as for Renew. An expired lease whose version still
	// matches may be released. Without Delete the record stays, free, with
	// an empty holder and its fencing history.
	Release(ctx context.Context, req *ReleaseRequest) error

	// Get returns the record with Held computed, or ErrNotFound.
	Get(ctx context.Context, key string) (Lock, error)

	// List returns records whose key starts with req.Prefix, sorted by key,
	// at most req.Limit of them, with a token for the next page.
	List(ctx context.Context, req *ListRequest) (ListPage, error)

	// Close releases the backend's resources (not the leases it granted).
	// Calls after Close return ErrClosed. Close is idempotent.
	Close() error
}

// Notifier is implemented by backends that can tell waiters that a lock may
// have become free, so that they need not poll.
type Notifier interface {
	// Subscribe returns a channel that receives a value soon after the
	// record for key is released, deleted or taken over (and, where the
	// store reports it, expires). Signals are coalesced: a waiter must
	// re-check with Acquire after each one. Spurious signals are allowed;
	// missed ones only cost a poll period, since waiters also poll. The
	// subscription ends, and the channel is closed, when ctx ends.
	Subscribe(ctx context.Context, key string) (<-chan struct{}, error)
}

// WatchRefuser is implemented by a Notifier whose subscriptions deliver
// every change of a record, grants included (Kubernetes watches do; Redis
// and PostgreSQL notifications announce releases only). Its Acquire
// answers a request marked Watched, on a key whose current state a live
// subscription has delivered, by refusing from that state when the key is
// held by another and unexpired; a release after that state reaches the
// caller as a signal, so the refusal costs the caller nothing but the
// wait it was in anyway. A watched try that loses a write race is refused
// the same way, as the winner's grant is on its way to the subscription.
//
// Refusing is always safe; granting never relies on the watched state.
// Callers not waiting (no subscription, or a try that must be answered by
// the store) leave Watched unset.
type WatchRefuser interface {
	Notifier
	// RefusesFromWatch documents the capability; it does nothing.
	RefusesFromWatch()
}

// Description names the store a backend works on, for the labels of
// client metrics: Backend is its kind, the URL scheme it registers
// ("memory", "sqlite", "postgres", "redis", "kubernetes"), and Namespace the
// namespace it is scoped to (every backend has one; "default" unless
// chosen). Neither names a lock key, so a process has a handful of them.
type Description struct {
	Backend   string
	Namespace string
}

// Describer is implemented by backends that can describe themselves; every
// backend of this module does. A wrapper that does not is described as
// Backend "unknown" with an empty Namespace.
type Describer interface {
	Describe() Description
}

// Describe returns b's Description, or {Backend: "unknown"} if b is not a
// Describer.
func Describe(b Backend) Description {
	if d, ok := b.(Describer); ok {
		return d.Describe()
	}
	return Description{Backend: "unknown"}
}
