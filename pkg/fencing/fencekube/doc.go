// Package fencekube stamps writes to Kubernetes objects with Leasehold's
// fencing token, for the ValidatingAdmissionPolicy in config/fencing, which
// has the API server refuse a write whose token is lower than the lock's
// current one.
//
// An object opts in with the label fencing.leasehold.dev/lock, naming the
// DistributedLock (its object name, kubernetes.ObjectName of the key, which
// is the key itself for keys that are valid object names), and carries the
// writer's token in the annotation fencing.leasehold.dev/token. [Stamp]
// sets both; [StampSession] from a lockmanager.Session, [StampFromEnv] from
// the environment `lockctl run` gives a command. Stamp every write, create
// and update alike: the annotation stays on the object, and a write that
// does not set it carries whatever token the last writer left.
//
// The API server compares the token with the lock as its watch cache has
// it, which follows the lock's writes by milliseconds (and, with several
// API servers, each has its own): a write sent in that moment after
// another holder's grant is still judged against the previous token.
// Fencing here closes the window of a holder that was paused or
// partitioned past its lease, which is seconds or more; it is no substitute
// for a check in the resource's own write where one exists.
//
// The lock must live in the object's namespace. [PerLockBinding] builds
// the binding of config/fencing/per-lock-binding.yaml, for namespaces with
// many locks.
package fencekube
