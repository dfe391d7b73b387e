// Package kubernetes is Leasehold's Kubernetes backend: each lock is a
// DistributedLock object (api/v1alpha1) in one namespace, written with
// updates guarded by resourceVersion.
//
// Import it to register the URL scheme kubernetes://NAMESPACE (the
// namespace defaults to "default"), which connects with the default
// kubeconfig loading rules (--kubeconfig, $KUBECONFIG, in-cluster,
// ~/.kube/config), or call [NewForConfig] with a *rest.Config the program
// already has, or [New] with a controller-runtime client.WithWatch built by
// the caller. The client must read from the API server directly, not
// through an informer cache.
//
// # Names
//
// Keys map to object names with [ObjectName]: a key that is itself a valid
// object name is its own name (so a lock applied by hand as
// "db-migration" is the clients' lock, and the schema refuses that key
// under any other name); any other key gets a sanitised readable prefix
// plus 16 hex digits of the SHA-256 of the exact key. The key itself is
// kept in spec.key and checked on every read: an object under the name that
// holds another key is an error, never a silent mix-up. Objects not named
// after their key are invisible to Get and skipped by List (the controller
// marks them Invalid).
//
// # Writes
//
// Acquire creates the object when absent and otherwise updates it guarded
// by resourceVersion; AlreadyExists and Conflict mean another party wrote
// first. A Conflict is retried once, after a fresh read, only when that read
// shows the key still grantable; otherwise the answer is ErrLockHeld. If the
// retry conflicts too and the key is by then free again (winners releasing
// at once), the answer is ErrUnavailable ("kept changing"), which is
// retryable and which lockmanager's wait loop retries.
//
// A request the API server refuses to the client (401 Unauthorized, 403
// Forbidden) is ErrPermissionDenied, never retried, with the server's
// message (user, verb, resource, namespace) and the role a lock client
// needs: config/rbac's leasehold-lock-editor, bound in the namespace.
//
// An Update replaces the whole spec, so every write needs the previous one.
// To avoid a read before each write the Backend keeps a small client-side
// table: per key, the last object this client wrote or read. Renew and
// Release use it when its lock state is the version the caller presents (and its holder is the caller): then each is
// exactly one request (Update, or Delete with resourceVersion and UID
// preconditions). Acquire uses it when it shows the key grantable, and the
// guarded update itself checks it is current. Only when the write fails, or
// the table has nothing at that version, does the Backend read the object,
// to decide between ErrNotFound, ErrNotHolder, ErrVersionMismatch and
// ErrLeaseExpired. Requests per operation on a key this client has seen:
// acquire 1 (a write), renew 1, release 1; the first acquire of a new key
// is 2 (create of the free object, then the granting update). A client
// that has not seen the key tries the create first, so its first acquire
// of an existing key costs 3 (a refused create, a read, the update), and
// its renew or release of a version it did not write costs 2 (a read, the
// write). A refused acquire costs one read when this client's copy shows
// the key held.
//
// The record's Version is not the resourceVersion but the lock state's
// identity, metadata.generation and UID ([LeaseVersion]): the API server
// moves generation on with every spec change and never for status or
// metadata, so the controller's status writes (and labels or annotations
// added by people) do not change a version, while every grant, renewal and
// release does. A version printed by one process is therefore accepted by
// another, and a write to the lock by anyone else still makes it fail with
// ErrVersionMismatch. The writes themselves stay guarded by
// resourceVersion: when something other than the spec moved it on since
// this client's copy, the write conflicts once, the backend reads, finds
// the caller's version still current and writes again (3 requests instead
// of 1). The controller writes status only when a lease expired without
// being reaped or a spec is invalid, never for a renewal, so in steady
// state a renewal is one request.
//
// Lease durations are whole seconds in spec.leaseDurationSeconds, rounded
// up; a lease that is not a whole number of seconds is kept exactly in the
// annotation locks.leasehold.dev/lease-duration-ms, which this backend
// prefers. A party that reads only the spec (the controller) thus judges
// expiry later, never earlier, than the holder asked.
//
// # Fencing tokens
//
// Tokens rise strictly per key, across release, expiry, takeover, delete
// and re-create. A new object is created free with token 0. A grant on an
// object whose token is 0 takes the object's resourceVersion, as read for
// the guarded update, plus 1; every later grant takes the previous token
// plus 1. The argument: on an etcd-backed API server resourceVersion is the
// etcd revision, which grows by at least one with every write anywhere in
// the cluster. Each grant is itself a write whose revision is at least its
// token (the first grant's token is RV+1 and its write gets a revision
// above RV; each later grant's token is one more than the previous one and
// its write comes after the previous grant's write). Deleting the object is
// a later write still, so a re-created object's resourceVersion, and hence
// its first token, exceeds every token any earlier incarnation handed out.
// The backend treats resourceVersion as a number only here and refuses to
// grant, with an error saying so, if it does not parse. Restoring etcd from
// a backup taken before grants were made breaks the argument, as it breaks
// resourceVersion semantics for every client. Tokens are int64 in the API
// and stay below 2^63.
//
// The price of seeding from the object's own resourceVersion is that the
// first Acquire of a missing key is two writes, and the free object of the
// first write is visible to others before the second (docs/contract.md,
// "A missing key on Kubernetes"); test/linearize checks the backend with
// exactly that allowance.
//
// # Clocks and expiry
//
// Kubernetes has no server clock, so this client judges expiry by the rule
// of package lease (one home for it: the controller applies it too), with
// the skew allowance of WithSkewAllowance (default 1 s). Held in Get and
// List follows that rule, and ExpiresAt is renewTime + lease as the holder
// wrote them. Forgetting an entry of the bounded observation table only
// delays this client's judgement. The holder's side of safety is the
// Session's (package lockmanager): it counts from when it sent the request.
//
// # Waiting
//
// The Backend implements backends.Notifier with a watch on the namespace's
// DistributedLocks narrowed to the key's object (field selector
// metadata.name). It signals deletion, release, a change of holder, and
// the moment this client will judge the seen lease expired; the watch is
// restarted when the server ends it. Subscriptions end with their context
// or with Close.
//
// Since a watch delivers grants too, the Backend is a
// backends.WatchRefuser: a waiter's try while one of its subscriptions
// has delivered the key's current state is refused from that state when
// it shows the key held by another (no request), and a lost write race is
// refused without a read. Across processes this turns a hand-off into
// about one write plus the release, instead of a write and a read per
// waiting process (lockmanager spreads the woken waiters' tries; see the
// contract document).
//
// # Listing
//
// List reads all objects of the namespace in chunks (the API's limit and
// continue), keeps those whose spec.key has the prefix, sorts them by key
// in byte order and pages with an opaque token (the last key returned).
// That costs a full read of the namespace per page, acceptable for the
// numbers of locks a namespace holds; a label or index on the key would
// serve large sets better.
package kubernetes
