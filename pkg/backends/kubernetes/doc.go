// Package kubernetes is Leasehold's Kubernetes backend: each lock is a
// DistributedLock object (package api/v1alpha1) in one namespace, written
// with updates guarded by resourceVersion. The cluster needs the CRD
// (config/crd), and a lock client needs config/rbac's ClusterRole
// leasehold-lock-editor bound in the namespace; a request the API server
// refuses (401, 403) is ErrPermissionDenied, not retried, and names that
// role.
//
// Importing the package registers the URL scheme kubernetes://NAMESPACE
// (kubernetes:// for "default"). [Open] connects with the default
// kubeconfig loading rules (--kubeconfig, $KUBECONFIG, in-cluster,
// ~/.kube/config), and [NewForConfig] with a *rest.Config the program
// already has; both list the namespace once, so that a missing CRD,
// missing permissions or an unreachable server are reported at once.
// [New] takes a controller-runtime client.WithWatch the caller built
// ([Scheme] knows the types) and does no I/O; that client must read from
// the API server, not from an informer cache. Options: [WithNamespace],
// [WithSkewAllowance], [WithObservationLimit] and [WithClock].
//
// # Names and versions
//
// [ObjectName] maps a key to its object's name: a key that is a valid
// object name is its own name (so a lock applied by hand as "db-migration"
// is the clients' lock), and any other key gets a readable prefix and 16
// hex digits of its SHA-256. Every read checks spec.key, so an object that
// holds another key is an error, never a mix-up; objects not named after
// their key are invisible to Get and List (the controller marks them
// Invalid).
//
// A record's Version is its lock state identity, "GENERATION.UID"
// ([LeaseVersion]), not the resourceVersion: the controller's status
// writes and people's labels leave it valid, and a version printed by one
// process is accepted by another.
//
// # Expiry
//
// Kubernetes has no server clock: this client judges expiry on its own
// clocks by the rule of package [lease], which the controller applies too,
// with the skew allowance of WithSkewAllowance (default 1 s). Held in Get
// and List follows that rule; ExpiresAt is renewTime + lease as the holder
// wrote them.
//
// # Writes
//
// The Backend keeps, per key, the last object this client wrote or read,
// and writes from it without a read while it is current; when a guarded
// write conflicts, a fresh read decides. An acquire that keeps losing to
// writes that leave the key free (winners releasing at once) returns
// ErrUnavailable, which lockmanager's wait loop retries.
//
// # Fencing tokens
//
// Tokens rise strictly per key, across release, expiry, takeover, delete
// and re-create. A new object is created free with token 0; its first
// grant takes the object's resourceVersion + 1, and every later grant the
// previous token + 1. This rests on an etcd-backed API server, whose
// resourceVersion is the etcd revision: the backend refuses to grant when
// resourceVersion is not a number, and restoring etcd from a backup taken
// before grants were made breaks it, as it breaks resourceVersion for
// every client. The first Acquire of a missing key is therefore two
// writes, and the free object is visible in between (docs/contract.md, "A
// missing key on Kubernetes").
//
// # Waiting
//
// The Backend is a backends.Notifier: a watch on the key's object signals
// deletion, release, a change of holder, and the moment this client will
// judge the lease expired. It is also a backends.WatchRefuser: a waiter's
// try is refused without a request while its watch shows the key held by
// another (docs/contract.md, "Waiting").
//
// List reads the whole namespace, in chunks, for every page: fine for the
// numbers of locks a namespace holds, slow for very large ones.
package kubernetes
